"""The README is a promise: its code sample runs and its two commands match CI."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_code_sample_runs(capsys):
    sample = re.search(r"```python\n(.*?)```", README, re.S).group(1)
    exec(compile(sample, "README.md", "exec"), {})
    rank1 = float(capsys.readouterr().out.split("rank-1:")[1])
    assert 0.2 < rank1 <= 1.0  # 30 unseen identities: chance is 1/30


def test_readme_test_command_is_what_ci_runs():
    commands = re.findall(r"```bash\n(.*?)\n```", README, re.S)
    assert len(commands) == 2, "the README promises exactly two commands"
    install_and_demo, install_and_test = commands
    assert install_and_demo.endswith("skreid demo")
    assert install_and_test in (ROOT / ".ci" / "run").read_text()
