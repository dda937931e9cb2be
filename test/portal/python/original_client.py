"""The original project's kind of client: Python grpcio (gRPC C-core), on the wire only.

No generated code: requests are hand-encoded protobuf bytes and replies come back as bytes, so
this checks what ecom's own gRPC server makes of C-core's HTTP/2 (its HPACK with Huffman coding
and a dynamic table that indexes the headers repeated on every call, its flow control and
stream handling). Prints one JSON object: every reply, hex-encoded, and every status.
Usage: original_client.py PORT ROUNDS
"""
import json
import sys

import grpc


def field(tag, text):
    data = text.encode("utf-8")
    assert len(data) < 128, "short strings only"
    return bytes([(tag << 3) | 2, len(data)]) + data


def main():
    port, rounds = sys.argv[1], int(sys.argv[2])
    out = {"replies": [], "statuses": []}
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        def unary(path, request, metadata=None):
            try:
                reply = channel.unary_unary(path)(request, timeout=10, metadata=metadata)
                out["replies"].append([path, reply.hex()])
            except grpc.RpcError as err:
                out["statuses"].append([path, err.code().value[0], err.details()])

        for i in range(rounds):
            cid = str(1000 + i)
            unary("/AdminPortal/CreateClient", field(1, cid) + field(2, '{"name": "Ana"}'))
            unary("/AdminPortal/RetrieveClient", field(1, cid), metadata=[("x-round", str(i))])
        unary("/AdminPortal/CreateProduct", field(1, "7") + field(2, '{"name": "Caneta", "price": "2.50", "quantity": 50}'))
        for i in range(3):
            unary("/project.OrderPortal/CreateOrder", field(1, str(500 + i)) + field(2, "1000") + field(3, '[{"id": "7", "quantity": "1"}]'))
        stream = channel.unary_stream("/OrderPortal/RetrieveClientOrders")(field(1, "1000"), timeout=10)
        out["orders"] = [message.hex() for message in stream]
        unary("/AdminPortal/NoSuchMethod", b"")
    print(json.dumps(out))


main()
