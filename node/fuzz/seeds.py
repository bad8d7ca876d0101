#!/usr/bin/env python3
"""Writes the hand-made seed corpora of seeds/<target>/ (small, committed). The WAL seeds are
real segments (crc32 = crc32fast's IEEE CRC); binary seeds start from hand-encoded postcard.
Re-run after changing it; the long run's minimized corpus adds to these (see README.md)."""
import base64, os, struct, zlib

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")

def put(target, name, data):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)

def pstr(s):
    b = s.encode()
    return varint(len(b)) + b

put("scope", "guide", "secrets:read:production/*\nsecrets:read:production/gemini/*\nproduction/gemini/GEMINI_API_KEY\nstaging/x/Y")
put("scope", "admin", "agents:manage\nsecrets:*:*\nproduction/stripe/KEY")
put("scope", "exact", "secrets:write:production/gemini/GEMINI_API_KEY\nsecrets:write:production/gemini/GEMINI_API_KEY\nproduction/gemini/GEMINI_API_KEY")
put("scope", "bad", "secrets:read:production/../x\nsecrets:read:prod*/x\nsecrets:list:a/b/*")
put("path", "guide", "production/gemini/GEMINI_API_KEY")
put("path", "short", "a/b")
put("path", "reserved", "production/x/versions")
put("path", "dots", "production/./x")
for i, t in enumerate(["90s", "15m", "1h", "8h", "24h", "2d", "1h30m", "1d2h3m4s", "365d", "0s", "1h1h", "18446744073709551615s"]):
    put("ttl", f"t{i}", t)
put("allowlist", "guide", b"10.0.1.100/32\n10.0.1.101/32\n172.16.0.0/12\x00\x00\x0a\x00\x01\x64\x01\x0a\x00\x01\x65")
put("allowlist", "v6", b"2001:db8::/32\n::ffff:10.0.0.0/104\n10.0.1.5/24\x00" + bytes([1]) + bytes(range(16)))
put("allowlist", "empty", b"\x00\x00\x08\x08\x08\x08")
put("forwarded", "xff", b"\x02" + b"10.0.0.0/8,127.0.0.1\n203.0.113.7, 10.0.0.9")
put("forwarded", "rfc7239", b"\x03" + b"10.0.0.0/8\nfor=192.0.2.60;proto=http, for=\"[2001:db8::1]:443\"\nfor=unknown")
put("forwarded", "untrusted", b"\xc0" + b"192.0.2.0/24\n198.51.100.1, _hidden, 192.0.2.9")
guide = '{ "approval_policy": { "tiers": { "standard": { "required_approvals": 0 }, "sensitive": { "required_approvals": 1, "timeout_hours": 24 }, "critical": { "required_approvals": 1, "timeout_hours": 24 } }, "approvers": [ "you@company.com", "security@company.com" ] } }'
put("approval_policy", "guide", guide)
put("approval_policy", "grant", '{"approval_policy":{"tiers":{"critical":{"required_approvals":2,"timeout_hours":720}},"approvers":["A@x.io","b@x.io"],"grant_hours":8}}')
put("approval_policy", "bad", '{"approval_policy":{"tiers":{"secret":{"required_approvals":1}},"approvers":["a@x.io","A@X.IO"]}}')
good = """tls_disable = true
node_id = 1
api_addr = "127.0.0.1:8201"
cluster_addr = "127.0.0.1:8301"
data_dir = "/tmp/x"
[[peers]]
id = 1
api_addr = "127.0.0.1:8201"
cluster_addr = "127.0.0.1:8301"
[[peers]]
id = 2
api_addr = "127.0.0.1:8202"
cluster_addr = "127.0.0.1:8302"
"""
put("config", "good", good)
put("config", "full", good + """[auth]
trusted_proxies = ["10.0.0.0/8", "::1"]
forwarded_header = "forwarded"
[api]
proxy_protocol_from = ["10.0.0.5"]
[audit]
max_age = "90d"
[raft]
heartbeat_ms = 100
election_timeout_min_ms = 300
election_timeout_max_ms = 600
""")
put("config", "bad", good.replace("node_id = 1", "node_id = 3"))

def rec(kind, body):
    inner = bytes([kind]) + body
    return struct.pack("<II", len(inner), zlib.crc32(inner)) + inner

def entry(i, payload):
    return rec(1, struct.pack(">Q", i) + payload)

seg = rec(2, b"\x00vote") + entry(1, b"one") + entry(2, b"two") + entry(3, b"three") + rec(3, struct.pack(">Q", 1)) + rec(4, struct.pack(">Q", 3)) + entry(3, b"again")
put("wal", "raw-one-segment", b"\x00\x00" + seg)
put("wal", "raw-torn-tail", b"\x00\x00" + seg + entry(4, b"four")[:-2])
put("wal", "raw-two-segments", b"\x02" + bytes([len(seg)]) + seg + entry(4, b"four"))
# Structured: ops `code len body`: 0 next entry, 2 state, 3 purge, 4 truncate, 5 raw, 6 segment.
ops = bytes([0, 3]) + b"abc" + bytes([0, 1]) + b"d" + bytes([2, 3]) + b"\x01hi" + bytes([6, 0]) + bytes([0, 0]) + bytes([3, 1, 2]) + bytes([4, 1, 3]) + bytes([0, 2]) + b"zz"
put("wal", "ops", b"\x01" + ops)
put("wal", "ops-garbage", b"\x01" + ops + bytes([5, 4]) + b"\xff\xff\xff\xff")
put("wal", "ops-gap", b"\x01" + bytes([1, 1, 5, 1, 1, 9]))

# stored_records: which byte, then [format 1] ++ postcard.
secret = b"\x01" + pstr("api_key") + varint(1) + varint(3) + varint(1700000000000) + varint(1700000000001) + b"\x00"
put("stored_records", "secret", b"\x00" + secret)
version_v2 = b"\x02" + varint(1700000000000) + b"\x00" + b"\x00" + varint(4) + b"\xde\xad\xbe\xef" + b"\x01\x02"
put("stored_records", "version-v2", b"\x01" + version_v2)
put("stored_records", "version-v1", b"\x01" + b"\x01" + varint(1700000000000) + b"\x01" + varint(5) + b"\x00" + varint(0))
put("stored_records", "token-policy", b"\x04\x01" + varint(86400000) + b"\x00" + varint(259200000))
put("stored_records", "credential", b"\x05\x01\x01" + bytes(range(16)))
put("stored_records", "seal-config", b"\x08\x01\x01\x05\x03" + varint(4) + b"abcd")
put("stored_records", "u64", b"\x11\x01" + varint(42))
put("stored_records", "option-logid", b"\x0b\x01\x01" + varint(3) + varint(1) + varint(17))
put("stored_records", "snapshot-trees", b"\x12\x01\x01" + pstr("secrets") + b"\x01" + pstr("prod/a/B") + pstr("ciphertext"))
put("stored_records", "policy", b"\x07\x01" + b"\x00" + varint(86400000) + b"\x01" + varint(86400000) + b"\x01" + varint(86400000) + b"\x01" + pstr("a@x.io") + varint(3600000))

put("backup", "raw-magic", b"\x00" + b"ASSSNAP\n" + struct.pack(">I", 4) + b"\x01\x01\x00\x00" + b"\x00" * 32)
put("backup", "raw-junk", b"\x00hello, not a snapshot")
put("backup", "written", b"\x01\x05\x07" + b"c0ffe" + b"\x07secrets\x08prod/a/B\x0aciphertext\x06tokens\x01k\x01v")
put("backup", "written-empty", b"\x01\x00\x00")

put("unseal_share", "genuine", "#0\n#1\n#2")
put("unseal_share", "duplicate", "#0\n#0\n#1\n#3")
put("unseal_share", "mixed", "#4\n" + base64.b64encode(b"\x01" + b"\x00" * 32).decode() + "\n#2")
put("unseal_share", "malformed", "not base64!\n" + base64.b64encode(b"\x00" * 33).decode() + "\n  #1 ")
put("unseal_share", "one-short", "#3\n#1")

put("proxy_protocol", "v1-tcp4", b"PROXY TCP4 192.0.2.1 192.0.2.2 5678 443\r\n")
put("proxy_protocol", "v1-tcp6", b"PROXY TCP6 2001:db8::1 2001:db8::2 5678 443\r\n")
put("proxy_protocol", "v1-unknown", b"PROXY UNKNOWN\r\n")
put("proxy_protocol", "v1-trailing", b"PROXY TCP4 192.0.2.1 192.0.2.2 5678 443\r\nGET / HTTP/1.1\r\n")
sig = b"\r\n\r\n\x00\r\nQUIT\n"
v2 = sig + b"\x21\x11" + struct.pack(">H", 12) + bytes([192, 0, 2, 1, 192, 0, 2, 2]) + struct.pack(">HH", 5678, 443)
put("proxy_protocol", "v2-tcp4", v2)
put("proxy_protocol", "v2-local", sig + b"\x20\x00\x00\x00")
put("proxy_protocol", "v2-tcp6-tlv", sig + b"\x21\x21" + struct.pack(">H", 36 + 6) + bytes(range(32)) + struct.pack(">HH", 1, 2) + b"\x04\x00\x03pad")

put("peer_rpc", "vote", b"\x01\x01" + varint(5) + varint(2) + b"\x00" + b"\x01" + varint(4) + varint(2) + varint(40))
put("peer_rpc", "removed", b"\x04\x01" + varint(77))
put("peer_rpc", "read-index-ok", b"\x09\x01\x00" + varint(12))
put("peer_rpc", "forwarded", b"\x0d\x01" + b"\x01\x00" + bytes([10, 0, 0, 1]) + pstr("PUT") + pstr("/v1/secrets/prod/a/B") + b"\x01" + pstr("content-type") + pstr("application/json") + pstr('{"value":"x"}'))
put("peer_rpc", "propose-not-leader", b"\x08\x01\x01\x00")
put("peer_rpc", "node-state", b"\x0a\x01\x00" + varint(99) + b"\x00")

for i, (which, body) in enumerate([
    (0, '{"shares":5,"threshold":3}'),
    (2, '{"key":"AQID"}'),
    (3, '{"value":"example-value","type":"api_key","tier":"sensitive"}'),
    (4, '{"name":"inference-service","scopes":["secrets:read:production/gemini/*"],"ip_allowlist":["10.0.0.0/8"]}'),
    (5, '{"scopes":["secrets:read:production/*"],"ttl":"1h","ip_allowlist":["10.0.1.100/32","172.16.0.0/12"]}'),
    (8, guide),
    (9, '{"comment":"ok"}'),
    (13, '"critical"'),
    (14, '{"error":"not_found","message":"no such path"}'),
    (17, '{"initialized":true,"sealed":false,"threshold":3,"shares":5,"progress":0}'),
    (19, '{"path":"prod/a/B","value":"v","version":1,"type":"generic","tier":"standard","created_at":"2026-01-01T00:00:00Z"}'),
    (35, '{"id":"ab","status":"pending","path":"p/a/B","tier":"critical","version":1,"required_approvals":1,"approvals":[],"requested_at":"t","expires_at":"u"}'),
]):
    put("api_json", f"b{i:02}", bytes([which]) + body.encode())
# Regression inputs of crashes found and fixed (see README.md, "Found and fixed"); the
# `regression-<hash>` files next to these are the fuzzers' own crash inputs, kept as found.
put("wal", "regression-max-index", b"\x01\x01\x0c" + b"\xff" * 8 + b"tail")
header = b"\x01\x01" + pstr("c") + b"\x00" * 4 + b"\x01\x03\x02\x00" + b"\x00" * 32 + varint(2**64 - 1)
put("backup", "regression-body-len-max", b"\x00" + b"ASSSNAP\n" + struct.pack(">I", len(header)) + header + b"\x00" * 40)
put("allowlist", "regression-leading-zero", b"10.0.1.10/030\n10.0.0.0/08\x00\x00\x0a\x00\x01\x0a")
put("proxy_protocol", "regression-lf-only", b"PROXY UNKNOWN r" + b"\x00" * 27 + b"OGN +\xca\x9a;4N \n")
print("seeds written to", root)
