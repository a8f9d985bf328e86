"""python -m ichtrain <verb>: pipeline (the one documented command), add-test (more held-out sets for a bundle), fixture (tiny test data)."""
import sys


def main() -> int:
    verbs = ("pipeline", "add-test", "fixture")
    if len(sys.argv) < 2 or sys.argv[1] not in verbs:
        print(f"usage: python -m ichtrain {{{'|'.join(verbs)}}} [options]  (each verb has --help)", file=sys.stderr)
        return 2
    verb, rest = sys.argv[1], sys.argv[2:]
    if verb == "pipeline":
        from .pipeline import main as run
    elif verb == "add-test":
        from .pipeline import add_test as run
    else:
        from .fixtures import main as run
    return run(rest)


if __name__ == "__main__":
    sys.exit(main())
