"""Generates dlog/v1 (messages, type stubs, gRPC stubs) from the repository's proto/ with grpcio-tools.

    python scripts/generate_proto.py            # rewrite src/dlog/v1
    python scripts/generate_proto.py --check    # exit 1 when src/dlog/v1 differs from what proto/ gives

The generated files are committed so that `pip install ./clients/python` needs no code generator;
`make test-python` runs --check, so a proto change without regenerating fails the build.
grpc/health/v1 is not generated: grpcio-health-checking ships it.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

HERE = Path(__file__).resolve().parent
PROTO_ROOT = HERE.parents[2] / "proto"
TARGET = HERE.parent / "src" / "dlog" / "v1"
MESSAGES = ["dlog/v1/common.proto", "dlog/v1/log.proto", "dlog/v1/reader.proto"]
SERVICES = ["dlog/v1/log.proto", "dlog/v1/reader.proto"]
INIT = '"""Generated from proto/dlog/v1 by scripts/generate_proto.py: do not edit."""\n'


def run_protoc(args: list[str]) -> None:
    # protoc needs the well-known types (none today, but cheap to allow) from grpc_tools' own include dir.
    include = Path(protoc.__file__).parent / "_proto"
    code = protoc.main(["protoc", f"-I{PROTO_ROOT}", f"-I{include}", *args])
    if code != 0:
        raise SystemExit(f"protoc failed ({code}) on {args[-1]}")


def generate(out: Path) -> None:
    run_protoc([f"--python_out={out}", f"--pyi_out={out}", *MESSAGES])
    run_protoc([f"--grpc_python_out={out}", *SERVICES])
    (out / "dlog" / "v1" / "__init__.py").write_text(INIT)


def differences(generated: Path, committed: Path) -> list[str]:
    names = sorted({p.name for p in generated.iterdir()} | {p.name for p in committed.glob("*") if p.is_file()})
    return [
        name
        for name in names
        if name != "__pycache__"
        and not ((generated / name).is_file() and (committed / name).is_file() and filecmp.cmp(generated / name, committed / name, shallow=False))
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when stale")
    check = parser.parse_args().check
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        generate(out)
        fresh = out / "dlog" / "v1"
        stale = differences(fresh, TARGET) if TARGET.is_dir() else ["(missing)"]
        if check:
            if stale:
                print(f"clients/python/src/dlog/v1 is stale ({', '.join(stale)}): run `make python-proto`", file=sys.stderr)
                return 1
            return 0
        TARGET.mkdir(parents=True, exist_ok=True)
        for old in TARGET.glob("*.py*"):
            old.unlink()
        for new in fresh.iterdir():
            (TARGET / new.name).write_bytes(new.read_bytes())
    print(f"generated {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
