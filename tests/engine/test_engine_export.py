"""``studio engine export``: each format loads back in the runtime it is for and answers as the engine does."""

from __future__ import annotations

import json
from pathlib import Path

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
