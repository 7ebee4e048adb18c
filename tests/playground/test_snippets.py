"""The "use this model" snippets: valid Python that imports and builds the right client class for each provider."""

import ast

import pytest

from studio.playground.targets import build_target, usage_snippets


def _imported(tree: ast.AST) -> dict[str, str]:
    return {
        alias.name: node.module or ""
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }


def _built(tree: ast.AST) -> dict[str, dict[str, object]]:
    """Class name -> its constant keyword arguments, for every call of a bare name."""
    return {
        node.func.id: {k.arg: k.value.value for k in node.keywords if isinstance(k.value, ast.Constant)}
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }


@pytest.mark.parametrize(
    "kind,url,sdk_class,langchain_class,model_arg",
    [
        ("local", None, "OpenAI", "ChatOpenAI", "model"),
        ("openai", None, "OpenAI", "ChatOpenAI", "model"),
        ("compatible", "http://10.0.0.5:8000/v1", "OpenAI", "ChatOpenAI", "model"),
        ("azure", "https://acme.openai.azure.com", "AzureOpenAI", "AzureChatOpenAI", "azure_deployment"),
    ],
)
def test_snippets_are_python_that_builds_the_right_class(kind, url, sdk_class, langchain_class, model_arg):
    model = "ft:smollm2-135m-instruct:demo:abc123"
    snippets = usage_snippets(build_target("tuned", kind, model, base_url=url))
    sdk = ast.parse(compile(snippets["python"], "python snippet", "exec", ast.PyCF_ONLY_AST))
    assert _imported(sdk)[sdk_class] == "openai"
    assert sdk_class in _built(sdk)
    chain = ast.parse(compile(snippets["langchain"], "langchain snippet", "exec", ast.PyCF_ONLY_AST))
    assert _imported(chain)[langchain_class] == "langchain_openai"
    assert _built(chain)[langchain_class][model_arg] == model
    if url:
        endpoint = "azure_endpoint" if kind == "azure" else "base_url"
        assert _built(chain)[langchain_class][endpoint] == url
    # the package it needs is named where a copy-paste takes it along
    assert snippets["langchain"].startswith("# pip install langchain-openai\n")
