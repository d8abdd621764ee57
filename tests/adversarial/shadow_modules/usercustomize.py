# Attack: runs at interpreter start-up if the submission folder is on sys.path.
open("@@OUT@@/SHADOW-@@MARKER@@", "w").write("sitecustomize.py ran")
