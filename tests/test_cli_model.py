"""The real SmolLM2-135M-Instruct through personax's own loader, tokenizer and sampler."""
import pytest

from personax.cli import main


def test_chat_answers_paris(capsys):
    assert main(["chat", "--model", "smollm2-135m-instruct", "--prompt", "What is the capital of France?"]) == 0
    assert "Paris" in capsys.readouterr().out


def test_nll_prints_the_summary_line(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("The cat sat on the mat. It was a sunny day, and the garden was full of flowers.")
    assert main(["nll", "--model", "smollm2-135m-instruct", "--text-file", str(text)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    nll, tokens, ppl = (float(kv.split("=")[1]) for kv in last.split())
    assert last.startswith("nll=") and tokens > 10 and 0.5 < nll < 8 and ppl == pytest.approx(2.718281828 ** nll, rel=1e-3)


@pytest.mark.parametrize("argv, message", [
    (["chat", "--model", "no-such-model", "--prompt", "hi"], "unknown model 'no-such-model'"),
    (["nll", "--model", "smollm2-135m-instruct", "--text-file", "/nonexistent/file.txt"], "cannot read --text-file"),
])
def test_bad_input_is_a_clear_error(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err
