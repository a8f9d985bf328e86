"""python -m ichtrain <verb>: pipeline (the one documented command), add-test (more held-out sets for a bundle), recover-cnn (a bundle's slice CNN as a detector.pt), fixture (tiny test data)."""
import sys


def main() -> int:
    verbs = ("pipeline", "add-test", "recover-cnn", "fixture")
    if len(sys.argv) < 2 or sys.argv[1] not in verbs:
        print(f"usage: python -m ichtrain {{{'|'.join(verbs)}}} [options]  (each verb has --help)", file=sys.stderr)
        return 2
    verb, rest = sys.argv[1], sys.argv[2:]
    if verb == "pipeline":
        from .pipeline import main as run
    elif verb == "add-test":
        from .pipeline import add_test as run
    elif verb == "recover-cnn":
        from .recover import main as run
    else:
        from .fixtures import main as run
    return run(rest)


if __name__ == "__main__":
    sys.exit(main())
