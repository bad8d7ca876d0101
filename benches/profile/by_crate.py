# Groups a flat `perf record` profile by crate: python3 by_crate.py FILE.perf.data
import sys, subprocess, collections, re
data = sys.argv[1]
out = subprocess.run(["perf","report","-i",data,"--no-children","--sort","dso,symbol","--stdio","--percent-limit","0"],capture_output=True,text=True).stdout
cats = collections.Counter()
def cat(dso, sym):
    s = sym
    if dso.startswith("[kernel"): 
        return "kernel (syscalls: net, futex, sched)"
    if re.search(r"malloc|free|realloc|memmove|memcpy|memset|cfree|calloc|consolidate|_int_", s): return "malloc/free/memcpy (libc)"
    if "libc" in dso: return "libc other"
    if "sled::" in s: return "sled"
    if re.search(r"aes|Aes|polyval|Polyval|gcm_siv|ghash", s): return "AES-GCM-SIV"
    if "sha2" in s or "sha256" in s.lower(): return "sha2"
    if "scope" in s: return "ass_node::access::scope"
    if "ass_node" in s: return "ass_node other"
    if "hyper" in s or "httparse" in s or "http::" in s: return "hyper/http"
    if "axum" in s or "tower" in s or "matchit" in s: return "axum/tower"
    if "tokio" in s: return "tokio"
    if "serde" in s or "postcard" in s: return "serde/postcard"
    if "openraft" in s: return "openraft"
    if "reqwest" in s: return "reqwest"
    if "prometheus" in s: return "prometheus"
    if "tracing" in s: return "tracing"
    if "alloc::" in s or "core::" in s: return "std (alloc/core)"
    return "other"
for line in out.splitlines():
    m = re.match(r"\s+([\d.]+)%\s+(\S+)\s+\[.\]\s+(.*)", line)
    if m:
        cats[cat(m.group(2), m.group(3).strip())] += float(m.group(1))
for k,v in cats.most_common():
    print(f"{v:6.1f}%  {k}")
