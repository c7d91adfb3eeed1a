#!/usr/bin/python3
"""Byte-counting TCP relay for tests/bench/run-bench.sh (loopback only).

  byte_relay.py --upstream PORT --port-file F --log F --mode-file F
                --cert PEM --key PEM --ca PEM

The agent talks to this relay as if it were the server. Each connection is
handled in the mode the mode file holds when it is accepted:
  wire  forward raw TCP to the server: counts every byte on the agent's wire,
        TLS handshake and record overhead included;
  http  terminate TLS with the server's own certificate, count the plaintext
        HTTP both ways, and forward it over a new TLS connection: counts the
        HTTP layer (the status line is logged, so a 304 can be asserted).
One line per finished connection is appended to the log:
  MODE BYTES_FROM_AGENT BYTES_TO_AGENT FIRST_RESPONSE_LINE
"""
import argparse
import os
import socket
import ssl
import threading


def pump(src, dst, counts, idx, first):
    """Copy src to dst, counting; `first` (None in wire mode, where the bytes
    are TLS records) collects the first plaintext line from the server."""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if idx == 1 and first is not None and not first:
                first.append(data.split(b"\r\n", 1)[0].decode("latin-1"))
            counts[idx] += len(data)
            dst.sendall(data)
    except OSError:
        pass


def serve(conn, args, server_ctx, client_ctx, log_lock):
    mode = open(args.mode_file).read().strip()
    up = socket.create_connection(("127.0.0.1", args.upstream))
    counts, first = [0, 0], ([] if mode == "http" else None)
    try:
        if mode == "http":
            conn = server_ctx.wrap_socket(conn, server_side=True)
            up = client_ctx.wrap_socket(up, server_hostname="127.0.0.1")
        back = threading.Thread(target=pump, args=(up, conn, counts, 1, first))
        back.start()
        pump(conn, up, counts, 0, first)
        if mode == "wire":
            # Half-close: the server's last records (e.g. close_notify) still
            # count. (ENOTCONN: the server has closed already.)
            try:
                up.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        else:
            up.close()
        back.join()
    finally:
        conn.close()
        up.close()
    with log_lock, open(args.log, "a") as f:
        status = first[0].replace(" ", "_") if first else "-"
        f.write(f"{mode} {counts[0]} {counts[1]} {status}\n")


def main():
    p = argparse.ArgumentParser()
    for a in ("--upstream", "--port-file", "--log", "--mode-file", "--cert", "--key", "--ca"):
        p.add_argument(a, required=True)
    args = p.parse_args()
    args.upstream = int(args.upstream)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(args.cert, args.key)
    client_ctx = ssl.create_default_context(cafile=args.ca)
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(16)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(lsock.getsockname()[1]))
    os.rename(args.port_file + ".tmp", args.port_file)
    log_lock = threading.Lock()
    while True:
        conn, _ = lsock.accept()
        threading.Thread(target=serve, args=(conn, args, server_ctx, client_ctx, log_lock), daemon=True).start()


if __name__ == "__main__":
    main()
