"""The frame every page sits in, drawn once per run by app.py: page config, navigation, language, provider status.

app.py calls :func:`navigation` and runs the page it returns; each page starts with ``tr = page("cost")``, which
draws the page's title and hands back the translator of the language chosen in the sidebar. Errors of the
library (:class:`~studio.errors.StudioError`) reach the user through :func:`show_errors` / :func:`attempt`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import streamlit as st

from studio.errors import StudioError
from studio.i18n import LANGUAGE_NAMES, LANGUAGES, Translator, translator
from studio.providers.profiles import Reachability, engine_url, openai_key_present, probe_engine
from ui import keys
from ui.open_dataset import open_dataset_caption

T = TypeVar("T")

APP_NAME = "Fine-Tuning Studio"
# (file under app_pages/, URL path, icon): the URLs are the ones the app had before st.navigation
# (/Dataset?id=..., /Cost, /Train, /Playground), which links, the bench and the browser tests open.
# Material icons come with Streamlit's own font, so they show where no emoji font is installed.
PAGES = (
    ("home", "", ":material/home:"),
    ("dataset", "Dataset", ":material/table_edit:"),
    ("cost", "Cost", ":material/payments:"),
    ("train", "Train", ":material/model_training:"),
    ("playground", "Playground", ":material/compare:"),
)


def page_path(name: str) -> str:
    """The file of page ``name`` as ``st.switch_page`` and ``st.page_link`` take it: ``app_pages/<name>.py``."""
    if name not in {p[0] for p in PAGES}:
        raise ValueError(f"unknown page {name!r}; choose one of {', '.join(p[0] for p in PAGES)}")
    return f"app_pages/{name}.py"


def current_translator() -> Translator:
    """The translator of the language in the session (English until the sidebar's radio says otherwise)."""
    lang = st.session_state.get(keys.LANG, LANGUAGES[0])
    return translator(lang if lang in LANGUAGES else LANGUAGES[0])


def navigation() -> Any:
    """Draw the frame (config, language radio, provider status) and return the ``st.navigation`` to run.

    Widgets drawn here, in the entry script, keep their state across pages; titles follow the language because
    the navigation is rebuilt on every run.
    """
    st.set_page_config(page_title=APP_NAME, page_icon="🛠️", layout="wide")
    lang = st.sidebar.radio(
        "Language · Idioma",
        LANGUAGES,
        format_func=LANGUAGE_NAMES.get,
        key=keys.LANG,
        horizontal=True,
        on_change=_keep_choices,
    )
    tr = translator(lang)
    _provider_status(tr)
    return st.navigation(
        [
            st.Page(page_path(name), title=tr(f"frame.nav_{name}"), icon=icon, url_path=url or None, default=not url)
            for name, url, icon in PAGES
        ]
    )


# The keys of the choice widgets drawn with words (see kept_choice), in the session state under this key.
_CHOICES = "_kept_choices"


def kept_choice(key: str) -> str:
    """``key``, for a radio, selectbox or multiselect whose options are shown in the page's language (options are
    data keys, words come from ``format_func``), so that its value survives a switch of the sidebar's language.

    Streamlit keeps such a widget's value as the words shown, not the option: after a switch, the Spanish options
    no longer read the English words, and the widget drops them (a search scope lost its tool turns, radios lost
    their choice, menus showed raw keys). :func:`navigation`'s language radio therefore sets each of these widgets
    again to the option it held, read while the old words still apply."""
    st.session_state.setdefault(_CHOICES, set()).add(key)
    return key


def _keep_choices() -> None:
    # The language radio's on_change: runs before the page, while each widget still reads its old words.
    state = st.session_state
    for key in state.get(_CHOICES, ()):
        if key in state:
            state[key] = state[key]


def page(name: str) -> Translator:
    """Start page ``name``: its browser-tab title and heading (``<name>.title``); returns the translator."""
    tr = current_translator()
    title = tr(f"{name}.title")
    st.set_page_config(page_title=title if title == APP_NAME else f"{title} · {APP_NAME}")
    st.title(title)
    open_dataset_caption(tr)
    return tr


@st.cache_data(ttl=5, show_spinner=False)
def _engine_status(url: str) -> Reachability:
    # Every widget change reruns the page; the engine is probed at most every 5 s per URL, not per keystroke.
    return probe_engine(url)


def _provider_status(tr: Translator) -> None:
    engine = _engine_status(engine_url())
    with st.sidebar:
        st.caption(
            ("🟢 " + tr("frame.engine_up", detail=engine.shown(tr.lang)))
            if engine.reachable
            else ("⚪ " + tr("frame.engine_down", detail=engine.shown(tr.lang)))
        )
        st.caption(
            ("🟢 " + tr("frame.openai_found"))
            if openai_key_present(secrets())
            else ("⚪ " + tr("frame.openai_missing"))
        )


def secrets() -> dict[str, Any]:
    """``st.secrets`` as a dict; empty when there is no ``.streamlit/secrets.toml``."""
    try:
        return dict(st.secrets)
    except FileNotFoundError:
        return {}


@contextlib.contextmanager
def show_errors(container: Any = None) -> Iterator[None]:
    """Run the block; a :class:`~studio.errors.StudioError` ends it and shows its message (never a traceback)
    in ``container`` (the page by default)."""
    try:
        yield
    except StudioError as exc:
        (container or st).error(error_text(exc, current_translator()))


def error_text(exc: StudioError, tr: Translator) -> str:
    """``exc``'s message in ``tr``'s language where the error can say it so (``shown(lang)``: a memory refusal,
    an engine that cannot start), else its message as the library wrote it."""
    shown = getattr(exc, "shown", None)
    return shown(tr.lang) if callable(shown) else str(exc)


def attempt(action: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """``action(*args, **kwargs)``, or None after :func:`show_errors` showed why it failed."""
    with show_errors():
        return action(*args, **kwargs)
    return None
