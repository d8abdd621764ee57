"""Stand-in worker: reports what it can see as JSON on the reply descriptor (fd 3)."""
import json
import os
import sys

facts = {
    "uid": os.getuid(),
    "cwd": os.getcwd(),
    "env": dict(os.environ),
    "input": open(sys.argv[1]).read() if len(sys.argv) > 1 else None,
    "exists": {path: os.path.exists(path) for path in sys.argv[2:]},
    "listing": {path: sorted(os.listdir(path)) for path in sys.argv[2:] if os.path.isdir(path)},
}
with open(3, "wb") as reply:
    reply.write(json.dumps(facts).encode())
