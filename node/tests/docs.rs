//! The documentation agrees with the product: every key of `cluster-config/README.md`'s config
//! table and of every shipped example config is a `Config` key, and every `Config` key is in
//! the table and in every example; the CLI's default address and every address the CLI's
//! `--help`, the README and the runbook hand to `--addr`/`ASS_ADDR` is an API port, never a
//! cluster port, of the dev cluster or the shipped configs; `docs/api.md`'s error-code table
//! lists every `ErrorCode` once, with its status, and the SDKs' code tables name only codes
//! the node sends.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ass_node::config::Config;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(rel: &str) -> String {
    let p = root().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

fn examples() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for set in ["node-3", "node-5"] {
        let dir = root().join("cluster-config").join(set);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        for f in files {
            let rel = format!("cluster-config/{set}/{}", f.file_name().unwrap().to_string_lossy());
            out.push((rel.clone(), read(&rel)));
        }
    }
    assert!(out.len() >= 8, "the 3- and 5-node examples: {}", out.len());
    out
}

/// Dotted keys of a TOML value: `node_id`, `tls.cert_file`, `peers.id` (arrays of tables
/// under their own name).
fn keys(prefix: &str, v: &toml::Value, out: &mut BTreeSet<String>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                let nested = matches!(v, toml::Value::Table(_))
                    || matches!(v, toml::Value::Array(a) if a.first().is_some_and(toml::Value::is_table));
                if nested {
                    keys(&key, v, out);
                } else {
                    out.insert(key);
                }
            }
        }
        toml::Value::Array(a) => {
            for item in a {
                keys(prefix, item, out);
            }
        }
        _ => {
            out.insert(prefix.to_string());
        }
    }
}

/// An example with its commented-out settings (`# key = value` lines, as the `[seal]` block
/// shows the pkcs11 keys) switched on: what the example documents.
fn uncommented(text: &str) -> String {
    text.lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest)
                if rest.split_once(" = ").is_some_and(|(k, _)| {
                    !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                }) =>
            {
                rest
            }
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every key `Config` has: an example parsed (without the TLS file checks of `validate`),
/// filled in with every default and every optional table, serialized back.
fn config_keys() -> BTreeSet<String> {
    let (_, text) = &examples()[0];
    let config: Config = toml::from_str(&uncommented(text)).expect("example parses as Config");
    let value = toml::Value::try_from(&config).expect("Config serializes");
    let mut out = BTreeSet::new();
    keys("", &value, &mut out);
    out
}

/// Keys of the README's "The format in one table": `` `[tls] cert_file` `` is `tls.cert_file`,
/// `` `[[peers]]` `` covers `peers.*`.
fn readme_table_keys() -> BTreeSet<String> {
    let text = read("cluster-config/README.md");
    let start = text.find("## The format in one table").expect("the config table section");
    let section = &text[start..];
    let end = section[3..].find("\n## ").map_or(section.len(), |i| i + 3);
    let mut out = BTreeSet::new();
    for line in section[..end].lines() {
        let Some(rest) = line.strip_prefix("| `") else { continue };
        let cell = &rest[..rest.find('`').expect("closing backtick")];
        let key = if let Some(t) = cell.strip_prefix("[[").and_then(|c| c.strip_suffix("]]")) {
            t.to_string()
        } else if let Some(rest) = cell.strip_prefix('[') {
            let (table, key) = rest.split_once("] ").expect("`[table] key`");
            format!("{table}.{key}")
        } else {
            cell.to_string()
        };
        out.insert(key);
    }
    out
}

fn covered(key: &str, documented: &BTreeSet<String>) -> bool {
    documented.contains(key) || documented.iter().any(|d| key.starts_with(&format!("{d}.")))
}

#[test]
fn readme_config_table_and_config_have_the_same_keys() {
    let config = config_keys();
    let table = readme_table_keys();
    let undocumented: Vec<_> = config.iter().filter(|k| !covered(k, &table)).collect();
    assert!(undocumented.is_empty(), "Config keys missing from the README table: {undocumented:?}");
    let unknown: Vec<_> = table
        .iter()
        .filter(|t| !config.contains(*t) && !config.iter().any(|k| k.starts_with(&format!("{t}."))))
        .collect();
    assert!(unknown.is_empty(), "README table keys that Config does not have: {unknown:?}");
}

#[test]
fn every_example_config_sets_every_config_key_and_no_other() {
    let config = config_keys();
    for (file, text) in examples() {
        let value: toml::Value = toml::from_str(&uncommented(&text))
            .unwrap_or_else(|e| panic!("{file} with its `# key = value` lines on: {e}"));
        let mut set = BTreeSet::new();
        keys("", &value, &mut set);
        let unknown: Vec<_> = set.difference(&config).collect();
        assert!(unknown.is_empty(), "{file}: keys Config does not have: {unknown:?}");
        let missing: Vec<_> = config.difference(&set).collect();
        assert!(missing.is_empty(), "{file}: Config keys the example does not show: {missing:?}");
        for stale in ["not built yet", "/etc/ass/nodeN.toml"] {
            assert!(!text.contains(stale), "{file} still says `{stale}`");
        }
    }
}

/// Port of `https://host:port…`.
fn port_of(url: &str) -> Option<u16> {
    let rest = url.split("://").nth(1)?;
    let host_port = rest.split(['/', ',', ' ', '"', '`']).next()?;
    host_port.rsplit_once(':')?.1.parse().ok()
}

/// `ass-node dev --help`'s default base port (node N's API: base + N − 1, cluster: + 100).
fn dev_base_port() -> u16 {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ass-node"))
        .args(["dev", "--help"])
        .output()
        .expect("ass-node dev --help");
    let help = String::from_utf8_lossy(&out.stdout);
    let line = help.lines().skip_while(|l| !l.contains("--base-port")).take(6).collect::<String>();
    let at = line.find("[default: ").expect("--base-port shows its default");
    line[at + 10..].split(']').next().unwrap().parse().expect("a port")
}

#[test]
fn the_cli_default_and_every_documented_address_is_an_api_port() {
    let base = dev_base_port();
    let dev_api: BTreeSet<u16> = (base..base + 5).collect();
    let dev_cluster: BTreeSet<u16> = (base + 100..base + 105).collect();
    let (mut api, mut cluster) = (BTreeSet::new(), BTreeSet::new());
    for (file, text) in examples() {
        let c: Config = toml::from_str(&text).unwrap();
        api.insert(c.api_addr.port());
        cluster.insert(c.cluster_addr.port());
        assert_eq!(
            c.cluster_addr.port(),
            c.api_addr.port() + 100,
            "{file}: the cluster port is the API port + 100, as in the dev cluster"
        );
    }
    let all_cluster: BTreeSet<u16> = cluster.union(&dev_cluster).copied().collect();
    assert!(api.is_disjoint(&all_cluster) && dev_api.is_disjoint(&all_cluster));

    // The CLI's default is the dev cluster's node 1.
    let default = ass_client::addr::DEFAULT_ADDR;
    assert_eq!(port_of(default), Some(base), "CLI default {default} is dev node 1's API");
    let ops = read("docs/operations.md");
    assert!(ops.contains(&format!("`{default}`")), "the runbook's CLI table shows {default}");

    // Every address handed to --addr / ASS_ADDR in the CLI's help, the READMEs and the docs.
    let mut sources: Vec<(String, String)> = Vec::new();
    for entry in std::fs::read_dir(root().join("cli/src/commands")).unwrap() {
        let p = entry.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap();
        let help = text.split("#[cfg(test)]").next().unwrap().to_string();
        sources.push((p.display().to_string(), help));
    }
    for rel in ["README.md", "cluster-config/README.md", "docs/operations.md", "docs/api.md"] {
        sources.push((rel.to_string(), read(rel)));
    }
    let mut checked = 0;
    for (file, text) in &sources {
        for line in text.lines() {
            for marker in ["ASS_ADDR=", "--addr "] {
                let Some(at) = line.find(marker) else { continue };
                for url in line[at + marker.len()..].split(',') {
                    let url = url.trim();
                    if !url.starts_with("http") {
                        break;
                    }
                    let Some(port) = port_of(url) else { continue };
                    checked += 1;
                    assert!(
                        !all_cluster.contains(&port),
                        "{file}: `{line}` points the CLI at cluster port {port}"
                    );
                    assert!(
                        api.contains(&port) || dev_api.contains(&port),
                        "{file}: `{line}`: port {port} is no API port of the examples ({api:?}) \
                         or the dev cluster ({dev_api:?})"
                    );
                }
            }
        }
    }
    assert!(checked >= 20, "found the documented addresses: {checked}");
}

/// `(status, code)` of each row of `docs/api.md`'s "Error codes" table.
fn api_error_table() -> Vec<(u16, String)> {
    let text = read("docs/api.md");
    let start = text.find("\n## Error codes").expect("the error-code section");
    let section = &text[start + 1..];
    let end = section.find("\n## ").unwrap_or(section.len());
    let mut rows = Vec::new();
    for line in section[..end].lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let [_, status, code, ..] = cells[..] else { continue };
        let Ok(status) = status.parse::<u16>() else { continue };
        let code = code.strip_prefix('`').and_then(|c| c.strip_suffix('`')).expect("`code`");
        rows.push((status, code.to_string()));
    }
    rows
}

#[test]
fn the_api_error_table_lists_every_code_with_its_status() {
    use ass_client::ErrorCode;
    let rows = api_error_table();
    let mut seen = BTreeSet::new();
    for (status, code) in &rows {
        let parsed = ErrorCode::parse(code);
        assert!(!parsed.is_unknown(), "docs/api.md lists `{code}`, which is no ErrorCode");
        let two_statuses = parsed == ErrorCode::ApprovalExpired;
        assert!(
            *status == parsed.status() || (two_statuses && *status == ErrorCode::HELD_READ_STATUS),
            "docs/api.md gives `{code}` status {status}; ErrorCode::status says {}",
            parsed.status()
        );
        assert!(seen.insert((code.clone(), *status)), "`{code}` {status} is listed twice");
    }
    let documented: BTreeSet<&str> = rows.iter().map(|(_, c)| c.as_str()).collect();
    let missing: Vec<&str> =
        ErrorCode::ALL.iter().map(ErrorCode::as_str).filter(|c| !documented.contains(c)).collect();
    assert!(missing.is_empty(), "codes missing from docs/api.md's error table: {missing:?}");
    assert_eq!(rows.len(), ErrorCode::ALL.len() + 1, "each code once, approval_expired twice");
}

/// The keys of the code-to-class table that starts at `marker` in an SDK source file: the
/// first quoted or bare `snake_case` word of each line up to the closing brace.
fn sdk_table_codes(rel: &str, marker: &str) -> Vec<String> {
    let text = read(rel);
    let start = text.find(marker).unwrap_or_else(|| panic!("{rel}: no `{marker}`"));
    let body = &text[start + marker.len()..];
    let body = &body[..body.find('}').expect("closing brace")];
    body.lines()
        .filter_map(|l| l.trim().split_once(':'))
        .map(|(k, _)| k.trim().trim_matches('"').to_string())
        .filter(|k| !k.is_empty())
        .collect()
}

#[test]
fn the_sdk_error_tables_name_only_codes_the_node_sends() {
    use ass_client::ErrorCode;
    let tables = [
        (
            "sdk/python/src/agentsecretstore/_errors.py",
            "_BY_CODE: Mapping[str, Type[AgentVaultError]] = {",
        ),
        ("sdk/js/src/errors.ts", "const BY_CODE: Record<string, Ctor> = {"),
    ];
    for (rel, marker) in tables {
        let codes = sdk_table_codes(rel, marker);
        assert!(codes.len() >= 20, "{rel}: only {} codes read: {codes:?}", codes.len());
        for code in &codes {
            assert!(
                !ErrorCode::parse(code).is_unknown(),
                "{rel} maps `{code}`, which is no ErrorCode"
            );
        }
    }
}

// ---- The layering `docs/architecture.md` describes -------------------------------------

/// `node/src`, or another tree's (`ASS_LAYERING_SRC=/tmp/old/node/src`, to count the cycles
/// of an older commit with today's checker).
fn node_src() -> PathBuf {
    std::env::var_os("ASS_LAYERING_SRC").map_or_else(|| root().join("node/src"), PathBuf::from)
}

/// Module paths (`secrets::store`) of every file of `node/src`, with their code before any
/// `#[cfg(test)]` (tests may reach anywhere).
fn node_modules() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let src = node_src();
    let mut files = Vec::new();
    walk(&src, &mut files);
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap().with_extension("");
        let mut parts: Vec<String> =
            rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
        if parts.last().is_some_and(|p| p == "mod") {
            parts.pop();
        }
        if parts == ["lib"] || parts == ["main"] {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let code = match text.find("#[cfg(test)]") {
            Some(i) => text[..i].to_string(),
            None => text,
        };
        out.push((parts.join("::"), code));
    }
    out
}

/// Which modules each module refers to (`crate::a::b::Item` → the longest module prefix;
/// `super::` resolved), without a module's references to its own descendants (a parent
/// owns and re-exports its children) and without comments.
fn module_graph() -> std::collections::BTreeMap<String, BTreeSet<String>> {
    let modules = node_modules();
    let names: BTreeSet<String> = modules.iter().map(|(m, _)| m.clone()).collect();
    let resolve = |segments: &[&str]| -> Option<String> {
        (1..=segments.len()).rev().map(|n| segments[..n].join("::")).find(|p| names.contains(p))
    };
    let mut graph = std::collections::BTreeMap::new();
    for (module, code) in &modules {
        let is_mod_rs = node_src().join(module.replace("::", "/")).join("mod.rs").exists();
        let parent_of_super: Vec<&str> = {
            let mut p: Vec<&str> = module.split("::").collect();
            if !is_mod_rs {
                p.pop();
            }
            p.pop();
            p
        };
        let mut deps = BTreeSet::new();
        for line in code.lines() {
            let line = line.split("//").next().unwrap_or("");
            for (prefix, base) in [("crate::", Vec::new()), ("super::", parent_of_super.clone())] {
                let mut rest = line;
                while let Some(i) = rest.find(prefix) {
                    let before = rest[..i].chars().last();
                    rest = &rest[i + prefix.len()..];
                    if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                        continue;
                    }
                    let path: String = rest
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                        .collect();
                    let mut segments: Vec<&str> = base.clone();
                    segments.extend(path.split("::").filter(|s| !s.is_empty()));
                    if let Some(target) = resolve(&segments) {
                        let own_descendant = target.starts_with(&format!("{module}::"));
                        if target != *module && !own_descendant {
                            deps.insert(target);
                        }
                    }
                }
            }
        }
        graph.insert(module.clone(), deps);
    }
    graph
}

/// Strongly connected components of more than one module (Tarjan's algorithm).
fn cycles(graph: &std::collections::BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'a> {
        g: &'a std::collections::BTreeMap<String, BTreeSet<String>>,
        index: std::collections::HashMap<&'a str, usize>,
        low: std::collections::HashMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        let i = t.index.len();
        t.index.insert(v, i);
        t.low.insert(v, i);
        t.stack.push(v);
        t.on.insert(v);
        for w in t.g.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut scc = Vec::new();
            loop {
                let w = t.stack.pop().unwrap();
                t.on.remove(w);
                scc.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if scc.len() > 1 {
                scc.sort();
                t.out.push(scc);
            }
        }
    }
    let mut t = T {
        g: graph,
        index: Default::default(),
        low: Default::default(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

/// The checker itself finds a cycle where there is one.
#[test]
fn the_cycle_finder_finds_cycles() {
    let g = |edges: &[(&str, &str)]| {
        let mut m = std::collections::BTreeMap::<String, BTreeSet<String>>::new();
        for (a, b) in edges {
            m.entry(a.to_string()).or_default().insert(b.to_string());
            m.entry(b.to_string()).or_default();
        }
        m
    };
    assert!(cycles(&g(&[("http", "node"), ("node", "raft")])).is_empty());
    assert_eq!(
        cycles(&g(&[("http", "node"), ("node", "metrics"), ("metrics", "http")])),
        vec![vec!["http".to_string(), "metrics".to_string(), "node".to_string()]]
    );
    let graph = module_graph();
    assert!(graph.len() > 50, "modules found: {}", graph.len());
    assert!(graph["state"].contains("command"), "state imports the command set");
}

/// No import cycle inside `node/src`: the arrows point one way (see docs/architecture.md).
#[test]
fn node_src_has_no_import_cycle() {
    let found = cycles(&module_graph());
    assert!(found.is_empty(), "import cycles in node/src: {found:#?}");
}

/// Domain engines and stores are below Raft, the node and HTTP; nothing outside `http/`
/// imports `http`.
#[test]
fn domain_layers_import_downwards_only() {
    let graph = module_graph();
    let mut wrong = Vec::new();
    for (module, deps) in &graph {
        let lower = ["engine", "store", "record", "path", "tier", "tx", "schema", "codec"];
        let is_lower = module.split("::").last().is_some_and(|l| lower.contains(&l));
        for d in deps {
            let top = d.split("::").next().unwrap();
            if is_lower && ["http", "node", "raft", "command", "state", "server"].contains(&top) {
                wrong.push(format!("{module} -> {d}"));
            }
            // The two ports' routers: `server` (API) and `cluster` (peer port, which runs
            // forwarded requests through the API router).
            let router = ["server", "cluster"].contains(&module.as_str());
            if top == "http" && !module.starts_with("http") && !router {
                wrong.push(format!("{module} -> {d}"));
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the layering: {wrong:#?}");
}
