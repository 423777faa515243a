//! `registry-worker demo`: a small registry built end to end on the embedded default.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use index_git::CrateName;
use queue_core::{Event, Runner, Storage as _};
use registry_jobs::{reconcile, register_index_jobs, write_crate_archive, RegistryError};

use registry_jobs::site::{log_event, runner_config, Config, Site as Registry};

/// A sample crate: name, version, the `[dependencies]`/`[features]` part of its manifest
/// and its library source.
struct Sample {
    name: &'static str,
    version: &'static str,
    manifest_tail: &'static str,
    lib: &'static str,
}

const SAMPLES: &[Sample] = &[
    Sample { name: "demo-core", version: "0.1.0", manifest_tail: "", lib: "pub fn answer() -> u32 {\n    41\n}\n" },
    Sample { name: "demo-core", version: "0.2.0", manifest_tail: "", lib: "pub fn answer() -> u32 {\n    42\n}\n" },
    Sample {
        name: "demo-util",
        version: "0.1.0",
        manifest_tail: "\n[dependencies.demo-core]\nversion = \"^0.2\"\n",
        lib: "pub fn twice() -> u32 {\n    demo_core::answer() * 2\n}\n",
    },
    Sample {
        name: "demo-json",
        version: "0.1.0",
        manifest_tail: "\n[dependencies.demo-util]\nversion = \"^0.1\"\noptional = true\n\n[features]\ndefault = []\nutil = [\"dep:demo-util\"]\n",
        lib: "#[cfg(feature = \"util\")]\npub fn util() -> u32 {\n    demo_util::twice()\n}\n",
    },
    Sample {
        name: "demo-app",
        version: "1.0.0",
        manifest_tail: "\n[dependencies.demo-json]\nversion = \"^0.1\"\nfeatures = [\"util\"]\n\n[dependencies.demo-util]\nversion = \"^0.1\"\n",
        lib: "pub fn run() -> u32 {\n    demo_json::util() + demo_util::twice()\n}\n",
    },
];

pub(crate) fn run(config: &Config) -> Result<ExitCode> {
    if config.database_url.is_some() || config.index_url.is_some() {
        tracing::warn!(
            "the demo always uses the embedded default; DATABASE_URL and INDEX_URL are ignored"
        );
    }
    let embedded = Config {
        database_url: None,
        index_url: None,
        index_branch: None,
        git_index: true,
        ..config.clone()
    };
    let registry = Registry::open(&embedded, 4)?;
    registry.migrate()?;
    let samples_dir = registry.data_dir.join("samples");
    std::fs::create_dir_all(&samples_dir)
        .with_context(|| format!("creating {}", samples_dir.display()))?;

    println!("Publishing {} sample versions into {}", SAMPLES.len(), registry.data_dir.display());
    for sample in SAMPLES {
        let name = CrateName::new(sample.name)?;
        let vers = semver::Version::parse(sample.version)?;
        let manifest = format!(
            "[package]\nedition = \"2021\"\nname = \"{}\"\nversion = \"{}\"\ndescription = \"A sample crate of the registry-worker demo\"\nlicense = \"MIT\"\n{}",
            sample.name, sample.version, sample.manifest_tail
        );
        let path = samples_dir.join(format!("{}-{}.crate", sample.name, sample.version));
        write_crate_archive(
            &path,
            &name,
            &vers,
            &[("Cargo.toml", &manifest), ("src/lib.rs", sample.lib)],
        )?;
        let outcome = registry.database.publish_crate_file(&registry.store, &path);
        match outcome {
            Ok(published) => println!("  published {} {}", published.name, published.vers),
            Err(RegistryError::VersionExists { .. }) => {
                println!("  {} {} was published before", sample.name, sample.version)
            }
            Err(err) => return Err(err).with_context(|| format!("publishing {}", path.display())),
        }
    }
    for (name, vers) in [("demo-core", "0.1.0"), ("demo-json", "0.1.0")] {
        registry
            .database
            .set_yanked(name, vers, true)
            .with_context(|| format!("yanking {name} {vers}"))?;
        println!("  yanked {name} {vers}");
    }
    registry
        .database
        .set_yanked("demo-json", "0.1.0", false)
        .context("unyanking demo-json 0.1.0")?;
    println!("  unyanked demo-json 0.1.0");

    let pending = registry.storage.count_pending()?;
    println!("Running the worker on {pending} queued index jobs");
    let bar = indicatif::ProgressBar::new(pending);
    bar.set_style(
        indicatif::ProgressStyle::with_template("  {bar:40} {pos}/{len} jobs")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let tick = bar.clone();
    let ctx = registry.index_context()?;
    let report = register_index_jobs(
        Runner::new(Arc::clone(&registry.storage), runner_config()),
        Arc::clone(&ctx),
    )
    .on_event(move |event| {
        log_event(event);
        if matches!(event, Event::Succeeded { .. }) {
            tick.inc(1);
        }
    })
    .run_until_empty()?;
    bar.finish_and_clear();
    println!("  {} jobs done, {} failed runs", report.succeeded, report.failed);

    let check = reconcile(&ctx, false)?;
    if !check.differences.is_empty() {
        for difference in &check.differences {
            println!("  difference: {}", serde_json::to_string(difference)?);
        }
        anyhow::bail!("the index does not match the database after the demo");
    }
    println!("Reconciled: the index matches the database.");
    println!();
    println!("The registry is ready. Crates: demo-core (0.1.0 yanked, 0.2.0), demo-util 0.1.0, demo-json 0.1.0, demo-app 1.0.0.");
    println!("To use it from cargo, add these lines to .cargo/config.toml:");
    println!();
    println!("[registries.demo]");
    println!("index = \"{}\"", registry.index_url);
    println!();
    println!("and depend on a crate from it:");
    println!();
    println!("[dependencies]");
    println!("demo-app = {{ version = \"1\", registry = \"demo\" }}");
    Ok(ExitCode::SUCCESS)
}
