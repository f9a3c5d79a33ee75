"""Runs inside the USB-lab guest: several test scripts one after another in one boot.

Arguments: ``LABEL,SCRIPT.py[,ARG...]`` per run (the scripts copied into /test by the host). Each
runs as its own Python process with a fresh home and working folder (gphoto2 keeps settings in
its home), its output between ``@@@ BEGIN LABEL`` and ``@@@ END LABEL rc=N`` lines that the host
splits into one result per test. Between scripts the FunctionFS gadget (mode ffs) is unbound, as
a fresh boot would have it.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path


def unbind_gadget():
    gadget = os.environ.get("GADGET")
    udc = Path(gadget, "UDC") if gadget else None
    if udc is not None and udc.exists() and udc.read_text().strip():
        try:
            udc.write_text("\n")
        except OSError as exc:
            print(f"could not unbind the gadget: {exc}", flush=True)


def main():
    for spec in sys.argv[1:]:
        label, script, *args = spec.split(",")
        unbind_gadget()
        home = tempfile.mkdtemp(prefix=label + "-")
        print(f"@@@ BEGIN {label}", flush=True)
        done = subprocess.run(
            [sys.executable, f"/test/{script}", *args],
            cwd=home,
            env={**os.environ, "HOME": home, "TMPDIR": home},
            check=False,
        )
        print(f"@@@ END {label} rc={done.returncode}", flush=True)


if __name__ == "__main__":
    main()
