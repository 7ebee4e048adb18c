"""``studio engine export``: each format loads back in the runtime it is for and answers as the engine does."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from types import SimpleNamespace

import pytest

from studio.cli import main as cli_main
from tests.engine_support import TINY

pytest_plugins = ("tests.engine_fixtures",)
pytest.importorskip("torch")

MESSAGES = [{"role": "user", "content": "What is the color of grass?"}]
TOKENS = 12


@pytest.fixture(scope="module")
def tiny_adapter(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA adapter on every linear layer of the tiny model with random, non-zero A and B (so it changes the
    answers), saved as the engine's trainer saves its adapters."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    lora = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM", init_lora_weights=False)
    peft_model = get_peft_model(model, lora)
    folder = tmp_path_factory.mktemp("adapter")
    peft_model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def rope_model_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama whose config differs from transformers' defaults wherever the GGUF header reads it:
    SmolLM2's RoPE base of 100000 (the default is 10000), its norm epsilon, and a head size that is not
    hidden_size / heads."""
    from transformers import AutoTokenizer

    from tests.engine_support import tiny_llama

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    folder = tmp_path_factory.mktemp("rope-llama")
    tiny_llama(
        tokenizer,
        seed=2,
        intermediate_size=96,
        head_dim=32,
        max_position_embeddings=384,
        rms_norm_eps=1e-5,
        rope_parameters={"rope_type": "default", "rope_theta": 100000.0},
    ).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def add_fine_tune(store, base: Path, adapter: Path) -> str:
    """Record ``adapter`` in an engine store as the fine-tune of a (finished) job on ``base``; its model id."""
    job = store.create_job(
        model=TINY,
        base_source={"kind": "path", "path": str(base)},
        training_file="file-x",
        validation_file=None,
        suffix="pirate",
        seed=1,
        hyperparameters={},
    )
    model_id = f"ft:{TINY}:pirate:{job.id}"
    store.add_model(model_id, base=TINY, job_id=job.id, path=adapter)
    return model_id


def engine_answer(base: Path, adapter: Path | None) -> str:
    """The engine's greedy answer in float32 (the precision the export is written in)."""
    from studio.engine.models import generate, load_model

    loaded = load_model(str(base), adapter, precision="fp32")
    return generate(loaded, MESSAGES, max_tokens=TOKENS, temperature=0).run()


def transformers_answer(model, tokenizer) -> str:
    import torch

    prompt = tokenizer.apply_chat_template(MESSAGES, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**prompt, max_new_tokens=TOKENS, do_sample=False, eos_token_id=tokenizer.eos_token_id)
    return tokenizer.decode(out[0, prompt["input_ids"].shape[1] :], skip_special_tokens=True)


def test_hf_export_loads_in_transformers_and_answers_as_the_engine(tiny_model_dir, tiny_adapter, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from studio.engine.export import export_model

    out = tmp_path / "hf"
    result = export_model(str(tiny_model_dir), tiny_adapter, out, "hf", name="ft:tiny:x")
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= set(result.files)
    assert not any(name.startswith("adapter") for name in result.files)  # merged: no adapter left

    model = AutoModelForCausalLM.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert "<|im_start|>" in tokenizer.chat_template
    expected = engine_answer(tiny_model_dir, tiny_adapter)
    assert transformers_answer(model, tokenizer) == expected
    assert expected != engine_answer(tiny_model_dir, None)  # the adapter is really in the exported weights


def test_adapter_export_loads_in_peft_with_the_files_vllm_reads(tiny_model_dir, tiny_adapter, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from studio.engine.export import export_model

    out = tmp_path / "adapter"
    result = export_model(str(tiny_model_dir), tiny_adapter, out, "adapter", name="ft:tiny:x")
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json"} <= set(result.files)
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(tiny_model_dir)
    assert config["peft_type"] == "LORA" and config["r"] == 4

    base = AutoModelForCausalLM.from_pretrained(config["base_model_name_or_path"])
    model = PeftModel.from_pretrained(base, str(out)).eval()
    ids = torch.tensor([[1, 2, 3, 4, 5, 6]])
    with torch.no_grad():
        reference = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), str(tiny_adapter))
        assert torch.allclose(model(ids).logits, reference.eval()(ids).logits)


def test_gguf_export_reads_back_and_answers_as_the_engine(tiny_model_dir, tiny_adapter, tmp_path):
    import gguf
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from studio.engine.export import export_model

    out = tmp_path / "gguf"
    result = export_model(str(tiny_model_dir), tiny_adapter, out, "gguf", name="ft:tiny:x")
    assert result.files == ["Modelfile", "model.gguf"]
    reader = gguf.GGUFReader(out / "model.gguf")
    assert reader.fields["general.architecture"].contents() == "llama"
    assert "<|im_start|>" in reader.fields["tokenizer.chat_template"].contents()
    assert len(reader.fields["tokenizer.ggml.tokens"].data) == 49152
    names = {t.name for t in reader.tensors}
    assert {"token_embd.weight", "blk.1.attn_q.weight", "output_norm.weight"} <= names
    assert (out / "Modelfile").read_text().startswith("FROM ./model.gguf\n")
    assert 'PARAMETER stop "<|im_end|>"' in (out / "Modelfile").read_text()

    # transformers' own GGUF loader undoes llama.cpp's layout: same answer as the engine (f16 weights).
    model = AutoModelForCausalLM.from_pretrained(out, gguf_file="model.gguf").eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert transformers_answer(model, tokenizer) == engine_answer(tiny_model_dir, tiny_adapter)


def test_bad_exports_are_refused_and_leave_nothing(tiny_model_dir, tmp_path):
    from studio.engine.errors import InvalidValueError
    from studio.engine.export import export_model

    with pytest.raises(InvalidValueError, match="base model: it has no adapter"):
        export_model(str(tiny_model_dir), None, tmp_path / "a", "adapter", name=TINY)
    with pytest.raises(InvalidValueError, match="unknown export format 'onnx'"):
        export_model(str(tiny_model_dir), None, tmp_path / "b", "onnx", name=TINY)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(InvalidValueError, match="already exists"):
        export_model(str(tiny_model_dir), None, tmp_path / "full", "hf", name=TINY)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full"]
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"


def test_cli_exports_a_fine_tuned_model_of_an_engine_folder(tiny_model_dir, tiny_adapter, tmp_path, capsys):
    from studio.engine.store import EngineStore

    model_id = add_fine_tune(EngineStore(tmp_path / "engine"), tiny_model_dir, tiny_adapter)

    out = tmp_path / "out"
    code = cli_main(
        ["engine", "export", model_id, "--home", str(tmp_path / "engine"), "--format", "adapter", "-o", str(out)]
    )
    assert code == 0
    assert capsys.readouterr().out.strip().endswith(str(out))
    assert json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"] == str(tiny_model_dir)

    assert cli_main(["engine", "export", "ft:nope", "--home", str(tmp_path / "engine"), "-o", str(tmp_path / "x")]) == 2
    assert "'ft:nope' does not exist" in capsys.readouterr().err
    assert cli_main(["engine", "export", model_id, "--home", str(tmp_path / "none"), "-o", str(tmp_path / "x")]) == 2
    assert "not an engine folder" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_the_train_page_export_goes_through_the_engine_api(tiny_model_dir, tiny_adapter, tmp_path):
    """``studio.providers.jobs.export_model`` (the Train page's button) over real HTTP to a real engine app."""
    from studio.providers.jobs import JobError, export_model
    from tests.engine_support import ThreadServer, cli_app

    home = tmp_path / "engine"
    app = cli_app(home, models={TINY: str(tiny_model_dir)}, max_upload_bytes=1 << 20, run_jobs=False)
    model_id = add_fine_tune(app.state.engine.store, tiny_model_dir, tiny_adapter)
    job_id = model_id.rsplit(":", 1)[1]
    with ThreadServer(app) as server:
        client = server.client()
        first = export_model(client, model_id, "adapter")
        second = export_model(client, model_id, "adapter")
        assert Path(first["path"]) == home / "exports" / f"ft-{TINY}-pirate-{job_id}-adapter"
        assert Path(second["path"]).name.endswith("-adapter-2")  # a second export never overwrites the first
        assert "adapter_model.safetensors" in first["files"]
        assert (Path(first["path"]) / "adapter_model.safetensors").read_bytes() == (
            tiny_adapter / "adapter_model.safetensors"
        ).read_bytes()
        with pytest.raises(JobError, match="has no adapter"):
            export_model(client, TINY, "adapter")
        with pytest.raises(JobError, match="does not exist"):
            export_model(client, "ft:nope", "hf")
        with pytest.raises(JobError, match="unknown export format"):
            export_model(client, model_id, "onnx")


def test_gguf_metadata_is_the_source_configs(rope_model_dir, tmp_path):
    """Every ``llama.*`` key of the file against the config.json it came from (transformers 5 keeps the RoPE base
    in ``rope_parameters``), the special tokens against the tokenizer, and the answers against the engine's."""
    import gguf
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from studio.engine.export import export_model

    out = tmp_path / "gguf"
    export_model(str(rope_model_dir), None, out, "gguf", name="rope")
    reader = gguf.GGUFReader(out / "model.gguf")
    config = json.loads((rope_model_dir / "config.json").read_text())
    assert config["rope_parameters"]["rope_theta"] == 100000.0 and config["head_dim"] != 64 // 4
    expected = {
        "llama.vocab_size": config["vocab_size"],
        "llama.context_length": config["max_position_embeddings"],
        "llama.embedding_length": config["hidden_size"],
        "llama.block_count": config["num_hidden_layers"],
        "llama.feed_forward_length": config["intermediate_size"],
        "llama.attention.head_count": config["num_attention_heads"],
        "llama.attention.head_count_kv": config["num_key_value_heads"],
        "llama.attention.key_length": config["head_dim"],
        "llama.attention.value_length": config["head_dim"],
        "llama.attention.layer_norm_rms_epsilon": config["rms_norm_eps"],
        "llama.rope.dimension_count": config["head_dim"],
        "llama.rope.freq_base": config["rope_parameters"]["rope_theta"],
    }
    written = {key: field.contents() for key, field in reader.fields.items() if key.startswith("llama.")}
    wrong = {  # floats are stored as float32
        key: (written.get(key), value) for key, value in expected.items() if written.get(key) != pytest.approx(value)
    }
    assert wrong == {}  # {key: (in the file, in config.json)}
    assert set(written) == set(expected)  # a key written without a check here fails

    tokenizer = AutoTokenizer.from_pretrained(rope_model_dir)
    for key, kind in [("bos", "bos"), ("eos", "eos"), ("unknown", "unk"), ("padding", "pad")]:
        assert reader.fields[f"tokenizer.ggml.{key}_token_id"].contents() == getattr(tokenizer, f"{kind}_token_id")
    adds_bos = tokenizer("a")["input_ids"][0] == tokenizer.bos_token_id
    assert reader.fields["tokenizer.ggml.add_bos_token"].contents() is adds_bos

    model = AutoModelForCausalLM.from_pretrained(out, gguf_file="model.gguf").eval()
    assert model.config.rope_parameters["rope_theta"] == 100000.0
    assert transformers_answer(model, tokenizer) == engine_answer(rope_model_dir, None)


def _llama_config(**changes):
    """A plain stand-in for a Llama config (what ``read_llama_hparams`` reads), with ``changes`` applied."""
    from transformers import LlamaConfig

    base = LlamaConfig(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4)
    return SimpleNamespace(**{**base.to_dict(), **changes})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"rms_norm_eps": None}, "config has no 'rms_norm_eps'"),
        ({"max_position_embeddings": None}, "config has no 'max_position_embeddings'"),
        ({"num_key_value_heads": None}, "config has no 'num_key_value_heads'"),
        ({"rope_parameters": {"rope_type": "default"}}, r"no rope_parameters\['rope_theta'\]"),
        ({"rope_parameters": None}, "config has no 'rope_parameters'"),
        ({"rope_parameters": {"rope_type": "yarn", "rope_theta": 1e4, "factor": 4.0}}, "RoPE scaling 'yarn'"),
        ({"rope_parameters": {"rope_type": "llama3", "rope_theta": 5e5, "factor": 8.0}}, "RoPE scaling 'llama3'"),
        ({"rope_parameters": {"rope_type": "linear", "rope_theta": 1e4}}, "linear RoPE scaling has no 'factor'"),
        (
            {"rope_parameters": {"rope_type": "default", "rope_theta": 1e4, "partial_rotary_factor": 0.5}},
            "partial rotary factor",
        ),
        ({"hidden_act": "gelu"}, "hidden_act 'gelu'"),
    ],
)
def test_gguf_export_refuses_a_config_value_it_would_have_to_guess(changes, message):
    from studio.engine.errors import InvalidValueError
    from studio.engine.export import read_llama_hparams

    with pytest.raises(InvalidValueError, match=message):
        read_llama_hparams(_llama_config(**changes), name="m")


def test_gguf_export_writes_linear_rope_scaling():
    from studio.engine.export import read_llama_hparams

    rope = {"rope_type": "linear", "rope_theta": 500000.0, "factor": 4.0}
    hparams = read_llama_hparams(_llama_config(rope_parameters=rope), name="m")
    assert hparams["rope.freq_base"] == 500000.0
    assert (hparams["rope.scaling.type"], hparams["rope.scaling.factor"]) == ("linear", 4.0)


def ollama_prompt(modelfile: str, messages: list[dict[str, str]]) -> str:
    """The prompt Ollama renders for ``messages`` with ``modelfile``: its ``SYSTEM`` prompt is put first as a
    system message when the chat does not start with one (server/routes.go), and the TEMPLATE's range over
    ``.Messages`` (which keeps system messages, template/template.go) renders each message."""
    system = re.search(r'^SYSTEM """(.*?)"""$', modelfile, re.S | re.M)
    template = re.search(r'^TEMPLATE """(.*?)"""$', modelfile, re.S | re.M)
    assert template is not None
    loop = re.fullmatch(r"\{\{- range \.Messages \}\}(.*)\{\{ end \}\}(.*)", template.group(1), re.S)
    assert loop is not None, template.group(1)
    body, tail = loop.groups()
    if system is not None and messages[0]["role"] != "system":
        messages = [{"role": "system", "content": system.group(1)}, *messages]
    turns = (body.replace("{{ .Role }}", m["role"]).replace("{{ .Content }}", m["content"]) for m in messages)
    return "".join(turns) + tail


def test_the_modelfile_gives_the_engines_prompt_with_and_without_a_system_message(tiny_model_dir):
    from transformers import AutoTokenizer

    from studio.engine.export import default_system_prompt, ollama_modelfile

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)  # SmolLM2's template, with its default system turn
    default = default_system_prompt(tokenizer)
    no_system = tokenizer.apply_chat_template(MESSAGES, tokenize=False)
    assert default and "SmolLM" in default and f"system\n{default}<|im_end|>" in no_system
    modelfile = ollama_modelfile(tokenizer)
    assert f'\nSYSTEM """{default}"""\n' in modelfile
    chats = [
        MESSAGES,
        [{"role": "system", "content": "Talk like a pirate."}, *MESSAGES],
        [*MESSAGES, {"role": "assistant", "content": "Green."}, {"role": "user", "content": "And the sky?"}],
    ]
    for chat in chats:
        engine_prompt = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
        assert ollama_prompt(modelfile, chat) == engine_prompt
    assert default not in ollama_prompt(modelfile, chats[1])

    tokenizer.chat_template = (  # ChatML without a default system prompt: no SYSTEM line
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
        "'<|im_end|>\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
    )
    assert default_system_prompt(tokenizer) is None
    modelfile = ollama_modelfile(tokenizer)
    assert "SYSTEM" not in modelfile
    for chat in chats:
        assert ollama_prompt(modelfile, chat) == tokenizer.apply_chat_template(
            chat, tokenize=False, add_generation_prompt=True
        )


@pytest.mark.parametrize(
    ("fmt", "umask"),
    [("hf", 0o022), ("adapter", 0o022), ("gguf", 0o022), ("hf", 0o027)],
    ids=["hf", "adapter", "gguf", "hf-umask-027"],
)
def test_every_exported_file_has_the_mode_the_umask_gives(tiny_model_dir, tiny_adapter, tmp_path, fmt, umask):
    """0644 under umask 022 (safetensors' writer left 0600, which a vLLM container running as another user
    cannot read)."""
    from studio.engine.export import export_model

    previous = os.umask(umask)
    try:
        result = export_model(str(tiny_model_dir), tiny_adapter, tmp_path / "out", fmt, name="ft:tiny:x")
    finally:
        os.umask(previous)
    modes = {name: stat.S_IMODE((result.path / name).stat().st_mode) for name in result.files}
    assert modes == dict.fromkeys(result.files, 0o666 & ~umask)
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o777 & ~umask


def test_cli_export_says_the_weights_are_float32_and_how_the_engine_matches_them(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "hf"
    code = cli_main(
        ["engine", "export", TINY, "--base-model", f"{TINY}={tiny_model_dir}", "--format", "hf", "-o", str(out)]
    )
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == str(out)
    assert any("float32" in line and "STUDIO_ENGINE_INFERENCE_DTYPE=fp32" in line for line in lines)
