//! Architecture and space files: strict parsing, validation errors with JSON paths, the
//! exact counter against published numbers and against an independent count, and the CLI.

use dmasking::arch::Arch;
use dmasking::cost::{Convention, count, count_in};
use dmasking::space::Space;
use dmasking::zoo;
use serde_json::{Value, json};

use crate::util::{TempDir, dmasking, repo, repo_str};

/// Published counts (mobile-vision model_zoo/models/model_info/fbnet_v2, flops_m/params_m).
#[test]
fn zoo_counts_match_published_values() {
    let published = [
        ("fbnetv2_f1", 56_410_560u64, 5_999_408u64),
        ("fbnetv2_f2", 85_441_392, 5_999_408),
        ("fbnetv2_f3", 121_824_000, 6_899_504),
        ("fbnetv2_f4", 238_351_984, 6_994_824),
        ("fbnetv2_l1", 326_023_008, 8_496_520),
        ("fbnetv2_l2", 423_912_768, 8_496_520),
    ];
    for (name, flops, params) in published {
        let arch = zoo::get(name).unwrap();
        let c = count(&arch.layout().unwrap(), arch.input_size);
        assert_eq!((c.flops, c.params), (flops, params), "{name}");
    }
}

/// An independent reading of docs/ARCH_FORMAT.md's counting conventions, from the JSON:
/// (FLOPs, params) in ours, then in torch's (no pooling; BN's γ, β and biases counted).
fn independent_counts(v: &Value) -> [(u64, u64); 2] {
    fn div(x: f64, d: f64) -> f64 {
        if x > 0.0 && x % d == 0.0 {
            return x;
        }
        let mut r = ((x / d + 0.5).floor()).max(1.0) * d;
        if r < 0.95 * x {
            r += d;
        }
        r.max(d)
    }
    let u = |v: &Value| v.as_u64().unwrap() as f64;
    let d = v.get("width_divisor").map_or(8.0, u);
    let classes = v.get("num_classes").map_or(1000.0, u);
    let mut h = u(&v["input_size"]);
    let out = |h: f64, s: f64| ((h - 1.0) / s).floor() + 1.0;
    let (mut f, mut p) = (0.0, 0.0);
    // Params torch counts beside conv and linear weights: BN γ, β and biases.
    let mut extra = 0.0;
    let mut add = |w: f64, positions: f64| {
        p += w;
        f += w * positions;
    };
    let st = &v["stem"];
    h = out(h, u(&st["stride"]));
    let mut c = u(&st["out"]);
    add(
        u(&st["kernel"]).powi(2) * v.get("in_channels").map_or(3.0, u) * c,
        h * h,
    );
    extra += 2.0 * c;
    if st.get("bias") != Some(&Value::Bool(false)) {
        extra += c;
    }
    let mut pools = 0.0;
    for b in v["blocks"].as_array().unwrap() {
        let o = u(&b["out"]);
        let s = u(&b["stride"]);
        if b["op"] == "skip" {
            let h2 = out(h, s);
            if s != 1.0 || o != c {
                add(c * o, h2 * h2);
                extra += 2.0 * o;
            }
            h = h2;
            c = o;
            continue;
        }
        let k = u(&b["kernel"]);
        let mid = match b.get("mid") {
            Some(m) => u(m),
            None => div(c * b["expansion"].as_f64().unwrap(), d),
        };
        if mid != c {
            add(c * mid, h * h);
            extra += 2.0 * mid;
        }
        let h2 = out(h, s);
        add(k * k * mid, h2 * h2);
        extra += 2.0 * mid;
        if b.get("se") == Some(&Value::Bool(true)) {
            let sh = div((mid * 0.25).floor(), d);
            pools += mid * h2 * h2;
            add(mid * sh, 1.0);
            add(sh * mid, 1.0);
            extra += sh + mid;
        }
        add(mid * o, h2 * h2);
        extra += 2.0 * o;
        h = h2;
        c = o;
    }
    let hd = &v["head"];
    extra += classes;
    if hd["op"] == "conv" {
        let m = u(&hd["out"]);
        add(c * m, h * h);
        extra += 2.0 * m;
        pools += m * h * h;
        add(m * classes, 1.0);
    } else {
        let m = div(c * hd["expansion"].as_f64().unwrap(), d);
        if m != c {
            add(c * m, h * h);
            extra += 2.0 * m;
        }
        pools += m * h * h;
        let ho = u(&hd["out"]);
        add(m * ho, 1.0);
        pools += ho;
        add(ho * classes, 1.0);
    }
    [
        ((f + pools) as u64, p as u64),
        (f as u64, (p + extra) as u64),
    ]
}

fn independent_count(v: &Value) -> (u64, u64) {
    independent_counts(v)[0]
}

fn random_arch(rng: &mut impl rand::Rng) -> Value {
    let mut blocks = Vec::new();
    for _ in 0..rng.random_range(1..8) {
        let out = 8 * rng.random_range(1..12);
        let stride = rng.random_range(1..3);
        if rng.random_bool(0.15) {
            let mut b = json!({"op": "skip", "out": out, "stride": stride});
            if stride == 2 && rng.random_bool(0.5) {
                b["act"] = json!("none"); // a projection's activation
            }
            blocks.push(b);
            continue;
        }
        let mut b = json!({"op": "ir", "out": out, "stride": stride,
                           "kernel": ([1, 3, 5, 7][rng.random_range(0..4)])});
        if rng.random_bool(0.5) {
            b["expansion"] = json!(rng.random_range(0.5..6.5));
        } else {
            b["mid"] = json!(rng.random_range(1..100));
        }
        if rng.random_bool(0.4) {
            b["se"] = json!(true);
        }
        if rng.random_bool(0.4) {
            b["act"] = json!("hswish");
        }
        blocks.push(b);
    }
    let head = if rng.random_bool(0.3) {
        json!({"op": "conv", "out": rng.random_range(16..300), "act": "relu"})
    } else {
        json!({"op": "ir_pool", "expansion": rng.random_range(1.0..6.0), "out": rng.random_range(16..300)})
    };
    json!({
        "format": "dmasking-arch/1",
        "input_size": rng.random_range(8..100),
        "in_channels": rng.random_range(1..5),
        "num_classes": rng.random_range(2..50),
        "width_divisor": ([4, 8, 16][rng.random_range(0..3)]),
        "stem": {"out": 8 * rng.random_range(1..5), "kernel": 3, "stride": rng.random_range(1..3),
                 "bias": rng.random_bool(0.5)},
        "blocks": blocks,
        "head": head
    })
}

#[test]
fn counter_agrees_with_an_independent_count_on_random_files() {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    for _ in 0..300 {
        let v = random_arch(&mut rng);
        let arch = Arch::from_json(&v.to_string()).unwrap();
        let layout = arch.layout().unwrap();
        let [ours, torch] = independent_counts(&v);
        let c = count(&layout, arch.input_size);
        assert_eq!((c.flops, c.params), ours, "{v}");
        let t = count_in(&layout, arch.input_size, Convention::Torch);
        assert_eq!((t.flops, t.params), torch, "torch: {v}");
    }
    for (name, text) in zoo::MODELS {
        let v: Value = serde_json::from_str(text).unwrap();
        let c = count(
            &zoo::get(name).unwrap().layout().unwrap(),
            v["input_size"].as_u64().unwrap() as usize,
        );
        assert_eq!((c.flops, c.params), independent_count(&v), "{name}");
    }
}

#[test]
fn derived_json_round_trips() {
    let arch = zoo::get("fbnetv2_f1").unwrap();
    let again = Arch::from_json(&arch.to_json()).unwrap();
    assert_eq!(arch, again);
}

/// An edit that breaks a valid document.
type Edit = Box<dyn FnOnce(&mut Value)>;

fn base_arch() -> Value {
    json!({
        "format": "dmasking-arch/1", "input_size": 32, "num_classes": 10,
        "stem": {"out": 16, "kernel": 3, "stride": 1},
        "blocks": [
            {"op": "ir", "out": 16, "stride": 1, "kernel": 3, "expansion": 1.0},
            {"op": "ir", "out": 24, "stride": 2, "kernel": 5, "mid": 64, "se": true},
            {"op": "skip", "out": 32, "stride": 1}
        ],
        "head": {"op": "ir_pool", "expansion": 4.0, "out": 128}
    })
}

fn arch_error(edit: impl FnOnce(&mut Value)) -> String {
    let mut v = base_arch();
    edit(&mut v);
    Arch::from_json(&v.to_string()).unwrap_err().to_string()
}

#[test]
fn malformed_architectures_name_the_json_path() {
    assert!(Arch::from_json(&base_arch().to_string()).is_ok());
    let cases: Vec<(Edit, &str)> = vec![
        (
            Box::new(|v| v["blocks"][1]["kernal"] = json!(3)),
            "$.blocks[1].kernal: unknown field",
        ),
        (
            Box::new(|v| v["blocks"][0]["out"] = json!("16")),
            "$.blocks[0].out",
        ),
        (
            Box::new(|v| v["blocks"][0]["out"] = json!(-3)),
            "$.blocks[0].out",
        ),
        (
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("stem");
            }),
            "$.stem: missing field",
        ),
        (
            Box::new(|v| {
                v["head"].as_object_mut().unwrap().remove("out");
            }),
            "$.head.out: missing field",
        ),
        (
            Box::new(|v| v["blocks"][1]["kernel"] = json!(4)),
            "$.blocks[1].kernel: kernel must be odd",
        ),
        (
            Box::new(|v| v["blocks"][0]["stride"] = json!(3)),
            "$.blocks[0].stride: stride must be 1 or 2",
        ),
        (
            Box::new(|v| v["blocks"][2]["out"] = json!(0)),
            "$.blocks[2].out: must be positive",
        ),
        (
            Box::new(|v| v["blocks"][1]["expansion"] = json!(2.0)),
            "$.blocks[1]: an ir block needs exactly one",
        ),
        (
            Box::new(|v| {
                v["blocks"][0].as_object_mut().unwrap().remove("expansion");
            }),
            "$.blocks[0]: an ir block needs exactly one",
        ),
        (
            Box::new(|v| v["blocks"][2]["kernel"] = json!(3)),
            "$.blocks[2].kernel: not allowed on a skip block",
        ),
        (
            Box::new(|v| v["blocks"][0]["op"] = json!("conv")),
            "$.blocks[0].op",
        ),
        (
            Box::new(|v| v["blocks"][0]["act"] = json!("gelu")),
            "$.blocks[0].act",
        ),
        (
            Box::new(|v| v["format"] = json!("dmasking-arch/2")),
            "$.format",
        ),
        (
            Box::new(|v| v["head"]["expansion"] = json!(-1.0)),
            "$.head.expansion",
        ),
        (Box::new(|v| v["dropout"] = json!(1.5)), "$.dropout"),
        (
            Box::new(|v| {
                v["blocks"][2]["out"] = json!(24); // 24 -> 24 at stride 1: the identity
                v["blocks"][2]["act"] = json!("none");
            }),
            "$.blocks[2].act: not allowed on an identity skip",
        ),
        (
            Box::new(|v| v["head"]["op"] = json!("conv")),
            "$.head.expansion: not allowed on a conv head",
        ),
        (
            Box::new(|v| {
                v["head"].as_object_mut().unwrap().remove("expansion");
            }),
            "$.head.expansion: missing field (required for ir_pool)",
        ),
        (Box::new(|v| v["stem"]["bias"] = json!("no")), "$.stem.bias"),
    ];
    for (edit, want) in cases {
        let err = arch_error(edit);
        assert!(
            err.starts_with(want),
            "got `{err}`, want it to start with `{want}`"
        );
        assert!(!err.contains('\n'), "one line: {err}");
    }
    let syntax = Arch::from_json("{\"format\": ").unwrap_err().to_string();
    assert!(syntax.contains("malformed JSON"), "{syntax}");
}

#[test]
fn malformed_spaces_name_the_json_path() {
    let text = std::fs::read_to_string(repo("configs/cifar10.json")).unwrap();
    let good: Value = serde_json::from_str(&text).unwrap();
    assert!(Space::from_json(&text).is_ok());
    let cases: Vec<(Edit, &str)> = vec![
        (
            Box::new(|v| v["stages"][1]["kernels"] = json!([3])),
            "$.stages[1].kernels: unknown field",
        ),
        (
            Box::new(|v| v["stages"][1]["out"] = json!([])),
            "$.stages[1].out: needs at least one option",
        ),
        (
            Box::new(|v| v["stages"][1]["out"] = json!([16, 16])),
            "$.stages[1].out[1]: duplicate option",
        ),
        (
            Box::new(|v| v["stages"][2]["kernel"] = json!([3, 4])),
            "$.stages[2].kernel[1]",
        ),
        (
            Box::new(|v| v["resolutions"] = json!([32, 40])),
            "$.resolutions[1]",
        ),
        (
            Box::new(|v| v["stages"] = json!([])),
            "$.stages: needs at least one stage",
        ),
        (
            Box::new(|v| v["stages"][0]["expansion"] = json!([0.0])),
            "$.stages[0].expansion[0]",
        ),
        (
            Box::new(|v| {
                v["stages"][0].as_object_mut().unwrap().remove("expansion");
            }),
            "$.stages[0].expansion: missing field (or give `ops`)",
        ),
        (
            Box::new(|v| v["stages"][1]["ops"] = json!([{"kernel": 3, "expansion": 3}])),
            "$.stages[1].expansion: not allowed beside `ops`",
        ),
        (
            Box::new(|v| {
                let st = v["stages"][1].as_object_mut().unwrap();
                st.remove("expansion");
                st.remove("kernel");
                st.insert(
                    "ops".into(),
                    json!([{"kernel": 3, "expansion": 3}, {"kernel": 4, "expansion": 6}]),
                );
            }),
            "$.stages[1].ops[1].kernel: kernel must be odd",
        ),
        (
            Box::new(|v| {
                let st = v["stages"][1].as_object_mut().unwrap();
                st.remove("expansion");
                st.remove("kernel");
                st.insert(
                    "ops".into(),
                    json!([{"kernel": 3, "expansion": 3}, {"kernel": 3, "expansion": 3}]),
                );
            }),
            "$.stages[1].ops[1]: duplicate option",
        ),
        (
            Box::new(|v| v["stages"][1]["skip_act"] = json!("gelu")),
            "$.stages[1].skip_act",
        ),
        (
            Box::new(|v| v["head"] = json!({"op": "conv", "out": 0})),
            "$.head.out: must be positive",
        ),
        (
            Box::new(|v| v["head"]["out"] = json!([256, 512])),
            "$.head.out: a list of widths needs a conv head",
        ),
        (
            Box::new(|v| v["head"] = json!({"op": "conv", "out": [256, 256]})),
            "$.head.out[1]: duplicate option",
        ),
        (
            Box::new(|v| v["stem"]["out"] = json!([16, 0])),
            "$.stem.out[1]: must be positive",
        ),
        (Box::new(|v| v["stem"]["out"] = json!("16")), "$.stem.out"),
    ];
    for (edit, want) in cases {
        let mut v = good.clone();
        edit(&mut v);
        let err = Space::from_json(&v.to_string()).unwrap_err().to_string();
        assert!(
            err.starts_with(want),
            "got `{err}`, want it to start with `{want}`"
        );
    }
}

#[test]
fn cli_flops_prints_json_and_rejects_bad_files_with_exit_2() {
    let ok = dmasking(&["flops", "--zoo", "fbnetv2_f4", "--json"]);
    assert!(ok.status.success());
    let v: Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(v["flops"], 238_351_984u64);
    assert_eq!(v["params"], 6_994_824u64);

    let dir = TempDir::create("cli");
    let bad = dir.join("bad.json");
    let mut v = base_arch();
    v["blocks"][1]["kernal"] = json!(3);
    std::fs::write(&bad, v.to_string()).unwrap();
    let out = dmasking(&["flops", "--arch", bad.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("$.blocks[1].kernal: unknown field"), "{err}");
    assert!(out.stdout.is_empty());

    let missing = dmasking(&["flops", "--arch", dir.join("nope.json").to_str().unwrap()]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        String::from_utf8(missing.stderr)
            .unwrap()
            .contains("nope.json")
    );

    let unknown = dmasking(&["flops", "--zoo", "fbnetv2_f9"]);
    assert_eq!(unknown.status.code(), Some(2));

    let space = dmasking(&[
        "flops",
        "--space",
        &repo_str("configs/cifar10.json"),
        "--json",
    ]);
    assert!(space.status.success());
    let s: Value = serde_json::from_slice(&space.stdout).unwrap();
    assert!(s["log10_size"].as_f64().unwrap() >= 10.0);
    let (lo, hi) = (
        s["min_flops"].as_f64().unwrap(),
        s["max_flops"].as_f64().unwrap(),
    );
    assert!(
        hi >= 4.0 * lo,
        "searchable range {lo}..{hi} spans less than 4x"
    );
    let mean = s["uniform_mean_flops"].as_f64().unwrap();
    assert!(lo < mean && mean < hi);
}

/// Every field added to the space format is optional with a default that keeps the old
/// meaning: the shipped spaces give the same counts as before the additions (values
/// printed by `dmasking flops --space FILE --json` at commit 9a3e2f6, before them), and
/// they serialize back to the same document.
#[test]
fn shipped_spaces_keep_their_networks_and_counts() {
    let pinned = [
        ("cifar10", 22, 10.30978628100348, 2484608, 18405888),
        ("cifar10_tiny", 10, 3.709269960975831, 93248, 777312),
        (
            "fbnetv2_imagenet",
            42,
            29.799588531548547,
            17749312,
            463092352,
        ),
    ];
    for (name, choices, log10, min, max) in pinned {
        let text = std::fs::read_to_string(repo(&format!("configs/{name}.json"))).unwrap();
        let space = Space::from_json(&text).unwrap();
        let plan = dmasking::supernet::Plan::new(&space);
        assert_eq!(plan.choices.len(), choices, "{name}");
        assert!((plan.log10_size() - log10).abs() < 1e-12, "{name}");
        assert_eq!(plan.extreme(false, 20_000).unwrap().flops, min, "{name}");
        assert_eq!(plan.extreme(true, 20_000).unwrap().flops, max, "{name}");
        let again = Space::from_json(&serde_json::to_string(&space).unwrap()).unwrap();
        assert_eq!(space, again, "{name}");
        // No new field appears in the document when it is written back.
        let original: Value = serde_json::from_str(&text).unwrap();
        let written = serde_json::to_value(&space).unwrap();
        for (s, st) in written["stages"].as_array().unwrap().iter().enumerate() {
            for key in st.as_object().unwrap().keys() {
                assert!(
                    original["stages"][s].get(key).is_some() || key == "skip" || key == "act",
                    "{name}: stage {s} gained `{key}`"
                );
            }
        }
    }
    for (name, _) in zoo::MODELS {
        let arch = zoo::get(name).unwrap();
        assert_eq!(Arch::from_json(&arch.to_json()).unwrap(), arch, "{name}");
    }
}

/// Channel-Bench-Macro's MobileNet space (Su et al., BCNet; its model.py: seven layers
/// with widths round(a · [128, 768, 768, 768, 256, 1536, 1024] / 4), a = 1..4), written in
/// our format without code changes: 4^7 networks, the widths its model builds, and the
/// largest network's torch-convention FLOPs counted by hand from that model.
#[test]
fn channel_bench_macro_mobilenet_is_described_by_the_format() {
    let space = Space::load(&repo("configs/channel_bench_macro_mobilenet.json")).unwrap();
    let plan = dmasking::supernet::Plan::new(&space);
    assert_eq!(plan.choices.len(), 7);
    assert!(plan.choices.iter().all(|c| c.options.len() == 4));
    // Its key a = (1, 2, 3, 4, 1, 2, 3): stem 32, block hidden widths 384, 576, 768 (the
    // stride-2 block), stage width 64, last hidden 768, head 768. Our choice order is stem,
    // stage-0 hidden x2, stage-1 width, stage-1 hidden x2, head.
    let arch = plan.derive(&[0, 1, 2, 0, 3, 1, 2]).unwrap();
    crate::util::assert_channel_bench_key_1234123(&arch);
    // All at a = 4: stem 884,736 + two 16x16 blocks 2 x 52,101,120 + the stride-2 block
    // 38,191,104 + the 8x8 block 51,216,384 + head conv 16,777,216 + classifier 10,240.
    let largest = plan.derive(&[3; 7]).unwrap();
    let c = count_in(
        &largest.layout().unwrap(),
        largest.input_size,
        Convention::Torch,
    );
    assert_eq!(c.flops, 211_281_920);
}

/// Two architectures are the same network exactly when everything but their name and
/// provenance agrees: on Channel-Bench-Macro's space, networks that differ only in the
/// head's width (or only in the stem's) are different networks.
#[test]
fn network_keys_tell_apart_networks_that_differ_only_in_stem_or_head_width() {
    let space = Space::load(&repo("configs/channel_bench_macro_mobilenet.json")).unwrap();
    let plan = dmasking::supernet::Plan::new(&space);
    let a = plan.derive(&[1, 1, 1, 1, 1, 1, 1]).unwrap();
    let head = plan.derive(&[1, 1, 1, 1, 1, 1, 2]).unwrap();
    assert_eq!(a.blocks, head.blocks);
    assert_ne!(a.network_key(), head.network_key());
    let stem = plan.derive(&[2, 1, 1, 1, 1, 1, 1]).unwrap();
    assert_ne!(a.network_key(), stem.network_key());
    let mut renamed = a.clone();
    renamed.name = Some("other".into());
    renamed.provenance = Some(serde_json::json!({"seed": 3}));
    assert_eq!(a.network_key(), renamed.network_key());
}

/// The default space's extreme FLOPs, which `flops --space` prints (and the README quotes),
/// by an independent exact method. Given the network-wide choices (resolution, stem, stage
/// and head widths), a network's FLOPs are the cost of its network-wide part plus one term
/// per block that depends on that block's own choices alone; this is checked on 500 random
/// networks. Then the extremes are, over every network-wide combination, that cost plus
/// each block's best term: every combination of every block's options is counted, with no
/// search (the library's `Plan::extreme` takes blocks one after another, and beyond 20,000
/// combinations searches the widths by coordinate descent).
#[test]
fn default_space_extremes_by_exhaustive_separable_enumeration() {
    use dmasking::supernet::{ChoiceKind, Plan};
    use rand::{SeedableRng, rngs::StdRng};
    use std::collections::BTreeMap;
    let space = Space::load(&repo("configs/cifar10.json")).unwrap();
    let plan = Plan::new(&space);
    let n = plan.choices.len();
    // Network-wide choices, and each block's own choices grouped by (stage, block).
    let mut global = Vec::new();
    let mut blocks: BTreeMap<(usize, usize), Vec<usize>> = BTreeMap::new();
    for (c, ch) in plan.choices.iter().enumerate() {
        match ch.kind {
            ChoiceKind::Expansion { stage, block } | ChoiceKind::Op { stage, block } => {
                blocks.entry((stage, block)).or_default().push(c)
            }
            _ => global.push(c),
        }
    }
    let options = |c: usize| plan.choices[c].options.len();
    // Every assignment of the choices `cs` (odometer order).
    let assignments = |cs: &[usize]| -> Vec<Vec<usize>> {
        let mut all = vec![vec![]];
        for &c in cs {
            all = all
                .into_iter()
                .flat_map(|a: Vec<usize>| {
                    (0..options(c)).map(move |o| [a.clone(), vec![o]].concat())
                })
                .collect();
        }
        all
    };
    let flops = |p: &[usize]| plan.flops_of(p).unwrap() as i64;
    let set = |p: &mut Vec<usize>, cs: &[usize], os: &[usize]| {
        cs.iter().zip(os).for_each(|(&c, &o)| p[c] = o);
    };
    // For each network-wide assignment: its base cost (every block at option 0) and each
    // block's term for each of its own assignments.
    // Network-wide assignment -> (base cost, per block: own assignment -> term).
    type Terms = (i64, Vec<BTreeMap<Vec<usize>, i64>>);
    let mut terms: BTreeMap<Vec<usize>, Terms> = BTreeMap::new();
    for g in assignments(&global) {
        let mut base = vec![0; n];
        set(&mut base, &global, &g);
        let f0 = flops(&base);
        let per_block = blocks
            .values()
            .map(|cs| {
                assignments(cs)
                    .into_iter()
                    .map(|a| {
                        let mut p = base.clone();
                        set(&mut p, cs, &a);
                        let t = flops(&p) - f0;
                        (a, t)
                    })
                    .collect()
            })
            .collect();
        terms.insert(g, (f0, per_block));
    }
    // Separability, on random networks.
    let mut rng = StdRng::seed_from_u64(3);
    for _ in 0..500 {
        let p = plan.random_picks(&mut rng);
        let g: Vec<usize> = global.iter().map(|&c| p[c]).collect();
        let (f0, per_block) = &terms[&g];
        let sum: i64 = blocks
            .values()
            .zip(per_block)
            .map(|(cs, t)| t[&cs.iter().map(|&c| p[c]).collect::<Vec<_>>()])
            .sum();
        assert_eq!(
            flops(&p),
            f0 + sum,
            "{p:?}: FLOPs are not separable by block"
        );
    }
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for (f0, per_block) in terms.values() {
        let min: i64 = per_block.iter().map(|t| *t.values().min().unwrap()).sum();
        let max: i64 = per_block.iter().map(|t| *t.values().max().unwrap()).sum();
        lo = lo.min(f0 + min);
        hi = hi.max(f0 + max);
    }
    assert_eq!(space.flops_range().unwrap(), (lo as u64, hi as u64));
    let printed = crate::util::printed_range("configs/cifar10.json");
    assert_eq!(printed, (lo as f64, hi as f64));
}

/// `dmasking scale`: by width, the largest network of `configs/cifar10.json` with the same
/// blocks (ops, kernels, strides, SE, activations) and every width a multiple of 8 no wider
/// than before, within ±5 % of 6 MFLOPs by `flops`; by resolution, the largest network's
/// widths at the input size whose FLOPs are nearest 6 MFLOPs (its neighbours' are farther).
#[test]
fn scaled_baselines_keep_the_largest_network_at_the_budget() {
    use dmasking::supernet::{EXTREME_LIMIT, Plan};
    let space = dmasking::space::Space::load(&crate::util::repo("configs/cifar10.json")).unwrap();
    let plan = Plan::new(&space);
    let largest = plan
        .derive(&plan.extreme(true, EXTREME_LIMIT).unwrap().picks)
        .unwrap();
    let dir = crate::util::TempDir::create("scale");
    let flops_of = |path: &str, size: Option<usize>| {
        let size = size.map(|s| s.to_string());
        let mut args = vec!["flops", "--arch", path, "--json"];
        if let Some(s) = &size {
            args.extend(["--input-size", s.as_str()]);
        }
        let o = crate::util::dmasking(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["flops"]
            .as_f64()
            .unwrap()
    };
    let scaled = |by: &str| {
        let out = dir.join(format!("{by}.json"));
        let o = crate::util::dmasking(&[
            "scale",
            "--space",
            &crate::util::repo_str("configs/cifar10.json"),
            "--match-mflops",
            "6",
            "--by",
            by,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        (
            out.to_str().unwrap().to_string(),
            dmasking::arch::Arch::load(&out).unwrap(),
        )
    };
    let (path, w) = scaled("width");
    assert!((flops_of(&path, None) / 6e6 - 1.0).abs() <= 0.05);
    assert_eq!(w.input_size, largest.input_size);
    assert_eq!(w.blocks.len(), largest.blocks.len());
    for (a, b) in w.blocks.iter().zip(&largest.blocks) {
        assert_eq!(
            (a.op, a.stride, a.kernel, a.se),
            (b.op, b.stride, b.kernel, b.se)
        );
        assert!(a.out % 8 == 0 && a.out <= b.out, "{a:?} vs {b:?}");
    }
    assert!(w.stem.out % 8 == 0 && w.stem.out <= largest.stem.out);
    let (path, r) = scaled("resolution");
    assert_eq!(
        (r.stem.clone(), r.blocks.clone(), r.head.clone()),
        (
            largest.stem.clone(),
            largest.blocks.clone(),
            largest.head.clone()
        )
    );
    assert!(r.input_size < largest.input_size);
    let off = |f: f64| (f - 6e6).abs();
    let here = off(flops_of(&path, None));
    for n in [r.input_size - 1, r.input_size + 1] {
        assert!(
            off(flops_of(&path, Some(n))) >= here,
            "input {n} is nearer 6 MFLOPs"
        );
    }
}
