"""An operation's line in the recipe reads right for every role: no "a assistant turn" (an article before a role
name that starts with a vowel sound in some roles and not others), in English and Spanish."""

import pytest

from studio.editing.ops import CONVERSATION, RegexReplace
from studio.editing.turn_ops import InsertTurn, SetRole


@pytest.mark.parametrize("role", ["system", "user", "assistant", "tool"])
def test_a_role_change_and_an_inserted_turn_name_the_role_without_an_article(role):
    assert SetRole(3, 7, role).describe() == f"Set the role of turn 7 of example 3 to {role}"
    assert InsertTurn(3, 2, role, "Hi").describe() == f"Insert a turn with role {role} at 2 in example 3"
    assert f" a {role}" not in SetRole(3, 7, role).describe_in("en")


def test_the_spanish_line_names_the_role_in_spanish():
    assert SetRole(3, 7, "assistant").describe_in("es") == "Hacer del turno 7 del ejemplo 3 un turno de asistente"


def test_a_scoped_replacement_names_its_roles_in_spanish_as_the_scope_picker_does():
    op = RegexReplace(field=CONVERSATION, pattern="x", replacement="y", roles=("tool", "tool_calls"), turns="any")
    assert op.describe_in("es") == (
        "Reemplazar /x/ por 'y' en cada turno de resultados de herramientas, llamadas a herramientas"
    )
