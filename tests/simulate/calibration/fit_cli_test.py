"""`inferstack profile fit` from the command line: config/profiles/fit-profiles, run with the built
binary into a temporary folder, writes exactly the fitted profiles shipped in config/profiles/
(so they are current); and a missing or corrupt input file exits 2 with a message naming it."""

import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "e2e"))
import harness  # noqa: E402

PROFILES = os.path.join(harness.SOURCE_DIR, "config", "profiles")
# The fitted profiles the script must make (the six); more are fine, fewer are not.
EXPECTED = {"llama-3-8b-a100.yaml", "llama-3-70b-a100-tp4.yaml", "llama-2-7b-h100.yaml",
            "llama-2-70b-h100-tp4.yaml", "llama-3.1-8b-h100.yaml", "qwen3-32b-h100-tp2.yaml"}


def read(path):
    with open(path, "rb") as f:
        return f.read()


def fit(*args):
    return subprocess.run([harness.BINARY, "profile", "fit", *args], capture_output=True,
                          text=True, timeout=60)


def main():
    checks = harness.Checks("profile fit on the command line")
    work = tempfile.mkdtemp(prefix="inferstack-profile-fit-cli-")
    try:
        # -- the shipped profiles are the fitter's ----------------------------------------------
        out = os.path.join(work, "profiles")
        os.makedirs(out)
        p = subprocess.run([os.path.join(PROFILES, "fit-profiles"), harness.BINARY, out],
                           capture_output=True, text=True, timeout=300)
        checks.check(p.returncode == 0, "fit-profiles runs", p.stderr[-2000:])
        written = set(os.listdir(out))
        checks.check(EXPECTED <= written, "fit-profiles writes the six fitted profiles",
                     f"missing {sorted(EXPECTED - written)}")
        for name in sorted(written):
            shipped = os.path.join(PROFILES, name)
            if not checks.check(os.path.exists(shipped), f"{name} is shipped in config/profiles"):
                continue
            checks.check(read(os.path.join(out, name)) == read(shipped),
                         f"{name} is byte-identical to the shipped one",
                         "re-run config/profiles/fit-profiles")

        # -- bad input files: exit 2, naming the file -----------------------------------------------
        missing = os.path.join(work, "absent", "mlp.csv")
        p = fit("--mlp", missing, "--layers", "32", "--gpu", "h100")
        checks.check(p.returncode == 2, "a missing --mlp exits 2", f"exit {p.returncode}")
        checks.check(missing in p.stderr, "a missing --mlp is named on stderr", p.stderr)
        checks.check(p.stdout == "", "a missing --mlp writes no manifest", p.stdout[:200])

        source = os.path.join(harness.SOURCE_DIR, "data", "vidur", "compute", "h100",
                              "meta-llama", "Llama-2-7b-hf", "mlp.csv")
        with open(source) as f:
            lines = f.read().splitlines()
        cells = lines[3].split(",")
        cells[1] = "n/a"  # line 4, time_stats.attn_pre_proj.median
        lines[3] = ",".join(cells)
        corrupt = os.path.join(work, "corrupt-mlp.csv")
        with open(corrupt, "w") as f:
            f.write("\n".join(lines) + "\n")
        out_file = os.path.join(work, "corrupt.yaml")
        p = fit("--mlp", corrupt, "--layers", "32", "--gpu", "h100", "-o", out_file)
        checks.check(p.returncode == 2, "a corrupt mlp.csv exits 2", f"exit {p.returncode}")
        checks.check(corrupt + ":4" in p.stderr and "attn_pre_proj" in p.stderr
                     and "n/a" in p.stderr,
                     "a corrupt mlp.csv is named on stderr with its line and column", p.stderr)
        checks.check(not os.path.exists(out_file), "a corrupt mlp.csv writes no manifest")

        # The same file uncorrupted fits: the failure above is the cell's.
        p = fit("--mlp", source, "--layers", "32", "--gpu", "h100", "-o", out_file)
        checks.check(p.returncode == 0 and os.path.exists(out_file),
                     "the uncorrupted mlp.csv fits", p.stderr[-2000:])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    checks.finish()


if __name__ == "__main__":
    main()
