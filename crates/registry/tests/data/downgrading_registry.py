"""An HTTPS "registry" on 127.0.0.1 that asks for Basic credentials and then redirects every
request to http:// on its own host and port, recording whatever arrives in clear.

Usage: downgrading_registry.py CERT KEY LOG. Prints its port, then serves until killed.
"""
import socket
import ssl
import sys

cert, key, log = sys.argv[1:4]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(16)
port = server.getsockname()[1]
print(port, flush=True)


def request(conn):
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


while True:
    conn, _ = server.accept()
    conn.settimeout(5)
    try:
        if conn.recv(1, socket.MSG_PEEK) != b"\x16":
            # Not a TLS handshake: a request in clear, kept for the test to read.
            with open(log, "ab") as f:
                f.write(request(conn) + b"\n")
            conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            conn.close()
            continue
        tls = ctx.wrap_socket(conn, server_side=True)
        head = request(tls)
        path = head.split(b" ")[1].decode()
        if b"authorization:" not in head.lower():
            answer = 'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm="test"\r\n'
        else:
            answer = f"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:{port}{path}\r\n"
        tls.sendall((answer + "Content-Length: 0\r\nConnection: close\r\n\r\n").encode())
        tls.close()
    except Exception:
        conn.close()
