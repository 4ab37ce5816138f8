//! The Compose files (`docker-compose.yml` local, `.dev`, `.qa`, `.prod`) read against the code,
//! since no Docker engine runs the tests: each file parses as YAML; every `loh` command line in
//! it is accepted by the built binary (`loh <command…> --help` exits 0 only when every
//! subcommand, flag and flag value before `--help` parses); every `LOH_*` and service-URL variable
//! it sets is one the subcommand reads; healthchecks and published ports name the ports the role
//! listens on; service URLs name services of the file on their ports; mounted files and the
//! Dockerfile's binary path exist; and each deployment has its shape (five worlds in QA; the NATS
//! cluster, limits, restart policies and health checks in prod). When a compose CLI is
//! installed, `docker compose -f F config -q` must accept each file as well.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use yaml_rust2::{Yaml, YamlLoader};

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("loh/ sits in the workspace")
        .to_path_buf()
}

/// One Compose file, with YAML merge keys (`<<`) applied and `${…}` interpolated.
struct ComposeFile {
    name: String,
    services: BTreeMap<String, Yaml>,
    doc: Yaml,
}

/// Applies `<<: *anchor` merge keys, recursively (explicit keys win, as in Compose).
fn merged(node: &Yaml) -> Yaml {
    match node {
        Yaml::Hash(h) => {
            let mut out = yaml_rust2::yaml::Hash::new();
            for (k, v) in h {
                if k.as_str() != Some("<<") {
                    out.insert(k.clone(), merged(v));
                }
            }
            if let Some(base) = h.get(&Yaml::String("<<".into())) {
                let bases = match base {
                    Yaml::Array(a) => a.clone(),
                    other => vec![other.clone()],
                };
                for base in bases {
                    if let Yaml::Hash(b) = merged(&base) {
                        for (k, v) in b {
                            out.entry(k).or_insert(v);
                        }
                    }
                }
            }
            Yaml::Hash(out)
        }
        Yaml::Array(a) => Yaml::Array(a.iter().map(merged).collect()),
        other => other.clone(),
    }
}

/// A string with Compose's `${NAME…}` replaced by `x` and `$$` by `$`.
fn interpolated(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if after.starts_with('{') {
            let end = after.find('}').expect("a closed ${…}");
            out.push('x');
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// A scalar as text (Compose accepts numbers and booleans where strings are meant).
fn text(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) => Some(interpolated(s)),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        Yaml::Real(r) => Some(r.clone()),
        _ => None,
    }
}

fn strings(y: &Yaml) -> Vec<String> {
    match y {
        Yaml::Array(a) => a.iter().filter_map(text).collect(),
        other => text(other).into_iter().collect(),
    }
}

/// The secrets a service takes: short syntax (`[jwt_key]`) or long (`{source: jwt_key, uid, gid,
/// mode}`).
fn secret_names(y: &Yaml) -> Vec<String> {
    match y {
        Yaml::Array(a) => a
            .iter()
            .filter_map(|s| text(s).or_else(|| text(&s["source"])))
            .collect(),
        _ => Vec::new(),
    }
}

impl ComposeFile {
    fn load(path: &Path) -> ComposeFile {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let source = std::fs::read_to_string(path).expect("readable");
        let docs = YamlLoader::load_from_str(&source)
            .unwrap_or_else(|e| panic!("{name} is not valid YAML: {e}"));
        assert_eq!(docs.len(), 1, "{name}: one YAML document");
        let doc = merged(&docs[0]);
        let services = doc["services"]
            .as_hash()
            .unwrap_or_else(|| panic!("{name} has no services"))
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().expect("service names are strings").to_owned(),
                    v.clone(),
                )
            })
            .collect();
        ComposeFile {
            name,
            services,
            doc,
        }
    }

    /// The services that run the project's image (built from the Dockerfile).
    fn loh_services(&self) -> impl Iterator<Item = (&String, &Yaml)> {
        self.services
            .iter()
            .filter(|(_, s)| !s["build"].is_badvalue())
    }
}

/// A service's environment, from map or list form.
fn environment(service: &Yaml) -> BTreeMap<String, String> {
    match &service["environment"] {
        Yaml::Hash(h) => h
            .iter()
            .map(|(k, v)| (text(k).unwrap_or_default(), text(v).unwrap_or_default()))
            .collect(),
        Yaml::Array(a) => a
            .iter()
            .filter_map(text)
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => (kv, String::new()),
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// The leading words of a command that name the subcommand (`projections run`).
fn subcommand(command: &[String]) -> Vec<String> {
    command
        .iter()
        .take_while(|a| !a.starts_with('-'))
        .cloned()
        .collect()
}

/// `loh <args…> --help` with an empty environment: (exit success, stdout and stderr).
fn loh_help(args: &[String]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_loh"))
        .args(args)
        .arg("--help")
        .env_clear()
        .output()
        .expect("run the loh binary");
    let mut shown = String::from_utf8_lossy(&out.stdout).into_owned();
    shown.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), shown)
}

/// The value of `--flag` in a command line (`--flag v` or `--flag=v`).
fn flag_value(command: &[String], flag: &str) -> Option<String> {
    let eq = format!("{flag}=");
    command.iter().enumerate().find_map(|(i, a)| {
        if a == flag {
            command.get(i + 1).cloned()
        } else {
            a.strip_prefix(&eq).map(str::to_owned)
        }
    })
}

/// The `[default: …]` of `--flag` in a help text.
fn help_default(help: &str, flag: &str) -> Option<String> {
    let at = help.find(&format!("{flag} "))?;
    let rest = &help[at..];
    let next_flag = rest[2..].find("\n      --").map_or(rest.len(), |i| i + 2);
    let part = &rest[..next_flag];
    let d = part.find("[default: ")?;
    let v = &part[d + "[default: ".len()..];
    Some(v[..v.find(']')?].to_owned())
}

/// The addresses a role listens on: (flag, variable) pairs per subcommand, as `app.rs` serves
/// them.
fn listeners(sub: &[String]) -> &'static [(&'static str, &'static str)] {
    match sub
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["up"] => &[
            ("--game-addr", "LOH_GAME_ADDR"),
            ("--query-addr", "LOH_QUERY_ADDR"),
        ],
        ["tick-writer"] => &[("--game-addr", "LOH_GAME_ADDR")],
        ["query-api"] => &[("--query-addr", "LOH_QUERY_ADDR")],
        ["projections", "run"] => &[("--health-addr", "LOH_HEALTH_ADDR")],
        _ => &[],
    }
}

/// The port of `http://host:PORT/…` in a healthcheck's command.
fn health_port(service: &Yaml) -> Option<u16> {
    let test = strings(&service["healthcheck"]["test"]).join(" ");
    let at = test.find("http://")?;
    let rest = &test[at + "http://".len()..];
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    authority.rsplit_once(':')?.1.parse().ok()
}

/// The container ports of a service's `ports:` (`"7771:7777"`, `"127.0.0.1:7777:7777"`).
fn published(service: &Yaml) -> Vec<u16> {
    strings(&service["ports"])
        .iter()
        .map(|p| {
            p.rsplit(':')
                .next()
                .and_then(|c| c.split('/').next())
                .and_then(|c| c.parse().ok())
                .unwrap_or_else(|| panic!("a port mapping: {p}"))
        })
        .collect()
}

/// (host, port) of each URL of a comma-separated list, credentials dropped.
fn url_hosts(urls: &str) -> Vec<(String, Option<u16>)> {
    urls.split(',')
        .map(|u| {
            let rest = u.split_once("://").map_or(u, |(_, r)| r);
            let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
            let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            match host_port.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), p.parse().ok()),
                None => (host_port.to_owned(), None),
            }
        })
        .collect()
}

/// A NATS service's configuration file in the repository (the bind mount of its `-c` path).
fn nats_config(file: &ComposeFile, service: &Yaml) -> (PathBuf, String) {
    let command = strings(&service["command"]);
    let target = flag_value(&command, "-c").expect("the NATS server runs a config file");
    let mount = strings(&service["volumes"])
        .into_iter()
        .find_map(|v| {
            let mut parts = v.split(':');
            let (src, dst) = (parts.next()?, parts.next()?);
            (dst == target).then(|| src.to_owned())
        })
        .unwrap_or_else(|| panic!("{}: {target} is mounted from the repository", file.name));
    let path = root().join(&mount);
    let conf = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {mount} exists ({e})", file.name));
    (path, conf)
}

/// A `key: value` (or `key = value`) setting's value in a NATS config.
fn nats_setting(conf: &str, key: &str) -> Option<String> {
    conf.lines().map(str::trim).find_map(|l| {
        let rest = l.strip_prefix(key)?;
        let v = rest.trim_start().strip_prefix([':', '='])?;
        Some(v.trim().trim_matches('"').to_owned())
    })
}

/// The NATS client port of a config (`port: N`, or the port of `listen: host:N`).
fn nats_client_port(conf: &str) -> Option<u16> {
    nats_setting(conf, "port")
        .or_else(|| nats_setting(conf, "listen").and_then(|l| Some(l.rsplit_once(':')?.1.into())))
        .and_then(|p| p.parse().ok())
}

/// Checks one file against the code; returns what it found wrong.
fn problems(file: &ComposeFile) -> Vec<String> {
    let mut wrong = Vec::new();
    let name = &file.name;
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).expect("the Dockerfile");
    let declared_secrets: BTreeSet<String> = file.doc["secrets"]
        .as_hash()
        .map(|h| h.keys().filter_map(text).collect())
        .unwrap_or_default();

    // NATS servers: their client port, for the URLs below; their health port from their config.
    let mut nats_ports = BTreeMap::new();
    for (sname, service) in &file.services {
        if !strings(&service["image"])
            .iter()
            .any(|i| i.starts_with("nats:"))
        {
            continue;
        }
        let (path, conf) = nats_config(file, service);
        let http = nats_setting(&conf, "http_port").and_then(|p| p.parse::<u16>().ok());
        if health_port(service) != http || http.is_none() {
            wrong.push(format!(
                "{name}: {sname}'s healthcheck port {:?} is not the http_port {http:?} of {}",
                health_port(service),
                path.display()
            ));
        }
        nats_ports.insert(sname.clone(), nats_client_port(&conf).unwrap_or(4222));
    }

    for (sname, service) in &file.services {
        for dep in service["depends_on"]
            .as_hash()
            .into_iter()
            .flat_map(|h| h.keys())
        {
            let dep = text(dep).unwrap_or_default();
            if !file.services.contains_key(&dep) {
                wrong.push(format!("{name}: {sname} depends on unknown service {dep}"));
            }
        }
        for volume in strings(&service["volumes"]) {
            if let Some(src) = volume.split(':').next().filter(|s| s.starts_with("./"))
                && !src.starts_with("./secrets/")
                && !root().join(src).exists()
            {
                wrong.push(format!(
                    "{name}: {sname} mounts {src}, which does not exist"
                ));
            }
        }
        for secret in secret_names(&service["secrets"]) {
            if !declared_secrets.contains(&secret) {
                wrong.push(format!("{name}: {sname} uses undeclared secret {secret}"));
            }
        }
    }

    for (sname, service) in file.loh_services() {
        if text(&service["build"]).as_deref() != Some(".") {
            wrong.push(format!("{name}: {sname} builds from `.` (the Dockerfile)"));
        }
        let command = match &service["command"] {
            Yaml::Array(_) => strings(&service["command"]),
            _ => {
                wrong.push(format!("{name}: {sname}'s command is a list"));
                continue;
            }
        };
        let sub = subcommand(&command);
        let (ok, shown) = loh_help(&command);
        if !ok {
            wrong.push(format!(
                "{name}: {sname}: `loh {}` is refused: {shown}",
                command.join(" ")
            ));
            continue;
        }
        let env = environment(service);
        for var in env.keys() {
            let ours = var.starts_with("LOH_")
                || ["DATABASE_URL", "NATS_URL", "REDIS_URL"].contains(&var.as_str());
            // Read from the environment only (secrets): named in the help of their file flag.
            let env_only = shown.contains(&format!("{var} ")) || shown.contains(&format!("{var}."));
            let flag_env = shown.contains(&format!("[env: {var}="))
                || shown.contains(&format!("[env: {var}]"));
            if ours && !flag_env && !env_only {
                wrong.push(format!(
                    "{name}: {sname} sets {var}, which `loh {}` does not read",
                    sub.join(" ")
                ));
            }
            if let Some(path) = env[var].strip_prefix("/run/secrets/")
                && !secret_names(&service["secrets"]).iter().any(|s| s == path)
            {
                wrong.push(format!(
                    "{name}: {sname}'s {var} names secret {path}, not given"
                ));
            }
        }
        for var in ["DATABASE_URL", "NATS_URL", "REDIS_URL"] {
            let Some(urls) = env.get(var) else { continue };
            for (host, port) in url_hosts(urls) {
                match file.services.get(&host) {
                    None => wrong.push(format!("{name}: {sname}'s {var} names {host}, no service")),
                    Some(_) if var == "NATS_URL" => {
                        if nats_ports.get(&host).copied() != Some(port.unwrap_or(4222)) {
                            wrong.push(format!(
                                "{name}: {sname}'s NATS_URL port {port:?} of {host} is not its client port"
                            ));
                        }
                    }
                    Some(_) => {}
                }
            }
        }
        // The ports the role listens on: flag, else variable, else the default.
        let mut listening = BTreeMap::new();
        for (flag, var) in listeners(&sub) {
            let addr = flag_value(&command, flag)
                .or_else(|| env.get(*var).cloned())
                .or_else(|| help_default(&shown, flag))
                .unwrap_or_else(|| panic!("{name}: {sname}: an address for {flag}"));
            let addr: std::net::SocketAddr = addr
                .parse()
                .unwrap_or_else(|_| panic!("{name}: {sname}: {flag} {addr} is an address"));
            listening.insert(addr.port(), addr.ip());
        }
        if !service["healthcheck"].is_badvalue() {
            match health_port(service) {
                Some(p) if listening.contains_key(&p) => {}
                p => wrong.push(format!(
                    "{name}: {sname}'s healthcheck port {p:?} is none of {listening:?}"
                )),
            }
            let test = strings(&service["healthcheck"]["test"]).join(" ");
            if test.contains("curl") && !dockerfile.contains("curl") {
                wrong.push(format!(
                    "{name}: {sname}'s healthcheck needs curl in the image"
                ));
            }
        }
        for port in published(service) {
            match listening.get(&port) {
                Some(ip) if ip.is_unspecified() => {}
                other => wrong.push(format!(
                    "{name}: {sname} publishes {port}, on which it listens at {other:?} \
                     (must be 0.0.0.0)"
                )),
            }
        }
    }
    wrong
}

/// The Dockerfile builds the binary the tests run and starts it as the entry point.
#[test]
fn the_dockerfile_builds_and_starts_the_loh_binary() {
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).expect("the Dockerfile");
    let binary = Path::new(env!("CARGO_BIN_EXE_loh"))
        .file_name()
        .expect("a file name")
        .to_string_lossy()
        .into_owned();
    assert!(
        dockerfile.contains("cargo build --release --locked -p loh"),
        "the image builds the loh package, locked"
    );
    let built = format!("target/release/{binary}");
    let copy = dockerfile
        .lines()
        .find(|l| l.contains(&built))
        .unwrap_or_else(|| panic!("the Dockerfile takes {built}"));
    let installed = copy
        .split_whitespace()
        .last()
        .expect("where the binary goes")
        .to_owned();
    assert!(
        dockerfile.contains(&format!("COPY --from=build {installed} {installed}")),
        "the final stage copies {installed}"
    );
    let entry = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("ENTRYPOINT "))
        .expect("an ENTRYPOINT");
    let entry: Vec<String> = serde_json::from_str(entry).expect("ENTRYPOINT in exec form");
    let dir = Path::new(&installed).parent().expect("a directory");
    assert!(
        entry[0] == installed
            || (entry[0] == binary
                && ["/usr/local/bin", "/usr/bin"].contains(&dir.to_str().unwrap())),
        "ENTRYPOINT {entry:?} starts {installed}"
    );
}

#[test]
fn every_compose_file_names_commands_flags_variables_and_ports_the_code_has() {
    let mut names: Vec<String> = std::fs::read_dir(root())
        .expect("the repository")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("docker-compose") && n.ends_with(".yml"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "docker-compose.dev.yml",
            "docker-compose.prod.yml",
            "docker-compose.qa.yml",
            "docker-compose.yml"
        ],
        "the four deployments of the design"
    );
    let mut wrong = Vec::new();
    for n in &names {
        let file = ComposeFile::load(&root().join(n));
        assert!(file.loh_services().count() > 0, "{n} runs loh");
        wrong.extend(problems(&file));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_checks_catch_a_flag_a_variable_and_a_port_the_code_does_not_have() {
    let source = std::fs::read_to_string(root().join("docker-compose.yml")).expect("readable");
    let broken = source
        .replace(
            "\"--game-addr\", \"0.0.0.0:7777\"",
            "\"--game-adr\", \"0.0.0.0:7777\"",
        )
        .replace("LOH_PROJECTION_PARTITIONS:", "LOH_PROJECTION_PARTITION:")
        .replace(
            "http://127.0.0.1:8088/healthz",
            "http://127.0.0.1:8089/healthz",
        )
        .replace("NATS_URL: nats://nats:4222", "NATS_URL: nats://natz:4222")
        .replace("ports: [\"8088:8088\"]", "ports: [\"8088:8090\"]");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("docker-compose.yml");
    std::fs::write(&path, broken).expect("write");
    let found = problems(&ComposeFile::load(&path)).join("\n");
    assert!(found.contains("--game-adr"), "{found}");
    assert!(found.contains("LOH_PROJECTION_PARTITION,"), "{found}");
    assert!(found.contains("healthcheck port Some(8089)"), "{found}");
    assert!(found.contains("NATS_URL names natz, no service"), "{found}");
    assert!(found.contains("query-api publishes 8090"), "{found}");
}

#[test]
fn qa_runs_five_worlds_and_prod_a_three_node_nats_cluster_with_limits() {
    let qa = ComposeFile::load(&root().join("docker-compose.qa.yml"));
    let mut shards = BTreeSet::new();
    let mut host_ports = BTreeSet::new();
    for service in qa.services.values() {
        let command = strings(&service["command"]);
        if command.first().map(String::as_str) == Some("tick-writer") {
            let shard = flag_value(&command, "--shard")
                .or_else(|| environment(service).get("LOH_SHARD").cloned())
                .expect("each world names its shard");
            shards.insert(shard);
            for p in strings(&service["ports"]) {
                host_ports.insert(p.split(':').next().unwrap_or_default().to_owned());
            }
        }
    }
    assert_eq!(
        shards.len(),
        5,
        "five worlds, each its own shard: {shards:?}"
    );
    assert_eq!(host_ports.len(), 5, "each world on its own host port");

    let prod = ComposeFile::load(&root().join("docker-compose.prod.yml"));
    let nats: Vec<&String> = prod
        .services
        .iter()
        .filter(|(_, s)| strings(&s["image"]).iter().any(|i| i.starts_with("nats:")))
        .map(|(n, _)| n)
        .collect();
    assert_eq!(nats.len(), 3, "a three-node NATS cluster: {nats:?}");
    let mut configs = BTreeSet::new();
    for n in &nats {
        let (path, conf) = nats_config(&prod, &prod.services[*n]);
        assert!(
            path.starts_with(root().join("nats/cluster")),
            "{n} runs a config of nats/cluster/"
        );
        assert!(conf.contains("cluster {"), "{n} is clustered");
        configs.insert(nats_setting(&conf, "server_name").expect("a server name"));
    }
    assert_eq!(configs.len(), 3, "three distinct server names");
    for (sname, service) in prod.loh_services() {
        let env = environment(service);
        if env.contains_key("NATS_URL") {
            let hosts: BTreeSet<String> = url_hosts(&env["NATS_URL"])
                .into_iter()
                .map(|(h, _)| h)
                .collect();
            let expected: BTreeSet<String> = nats.iter().map(|n| (*n).clone()).collect();
            assert_eq!(hosts, expected, "{sname} knows every NATS node");
            assert_eq!(env.get("LOH_NATS_REPLICAS").map(String::as_str), Some("3"));
        }
    }
    for (sname, service) in &prod.services {
        let one_shot = text(&service["restart"]).as_deref() == Some("no");
        if one_shot {
            continue;
        }
        assert!(
            text(&service["restart"]).is_some(),
            "{sname} has a restart policy"
        );
        assert!(
            !service["healthcheck"].is_badvalue(),
            "{sname} has a health check"
        );
        assert!(
            !service["deploy"]["resources"]["limits"]["memory"].is_badvalue(),
            "{sname} has a memory limit"
        );
    }
    let secrets = prod.doc["secrets"].as_hash().expect("secrets");
    assert!(
        secrets.contains_key(&Yaml::String("jwt_key".into())),
        "the signing key is a secret"
    );
}

#[test]
fn the_compose_cli_accepts_every_file_when_it_is_installed() {
    let present = Command::new("docker")
        .args(["compose", "version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !present {
        eprintln!("no `docker compose` here: the files were checked by the other tests only");
        return;
    }
    for n in [
        "docker-compose.yml",
        "docker-compose.dev.yml",
        "docker-compose.qa.yml",
        "docker-compose.prod.yml",
    ] {
        let out = Command::new("docker")
            .args(["compose", "-f", n, "config", "-q"])
            .current_dir(root())
            .env("LOH_PG_PASSWORD", "check")
            .env("LOH_REDIS_PASSWORD", "check")
            .output()
            .expect("docker compose runs");
        assert!(
            out.status.success(),
            "{n}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_nats_cluster_configs_parse_with_nats_server_when_it_is_installed() {
    let binary = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
        .into_iter()
        .find(|b| Path::new(b).exists());
    let Some(binary) = binary else {
        eprintln!("no nats-server here: the cluster test (projections) needs it anyway");
        return;
    };
    let users = loh_testkit::nats_cluster::USERS;
    for i in 1..=3 {
        let conf = root().join(format!("nats/cluster/n{i}.conf"));
        let out = Command::new(binary)
            .arg("-t")
            .arg("-c")
            .arg(&conf)
            .envs(users.iter().map(|(_, var)| (*var, "a-password")))
            .output()
            .expect("nats-server runs");
        assert!(
            out.status.success(),
            "{}: {}",
            conf.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        // Without the users' passwords in its environment a node refuses to start.
        let out = Command::new(binary)
            .arg("-t")
            .arg("-c")
            .arg(&conf)
            .env_clear()
            .output()
            .expect("nats-server runs");
        assert!(
            !out.status.success(),
            "{} started with no passwords",
            conf.display()
        );
    }
}
