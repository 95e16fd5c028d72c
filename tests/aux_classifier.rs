//! Correctness of the auxiliary classifier on the CPU: gradients against finite
//! differences, batch-norm statistics, overfitting a fixture sample, exact resume, and
//! refusal of bad checkpoints.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use candle_core::{DType, Device, Tensor, D};
use candle_nn::{ModuleT, VarBuilder, VarMap};
use softtext::auxiliary::classifier::augment::Augment;
use softtext::auxiliary::classifier::checkpoint::Checkpoint;
use softtext::auxiliary::classifier::{
    predict, train, train_with, ClassifierError, ModelKind, Schedule, TrainControl, TrainParam,
    TrainParams,
};
use softtext::data::{Dataset, Split};
use softtext::observe::{Observer, Progress};

fn fixture(limit: usize) -> Dataset {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cifar10-sample");
    let spec = format!("folder:{}", dir.display()).parse().unwrap();
    let mut data = Dataset::load(&spec, Split::Train, None).unwrap();
    data.balanced_limit(limit);
    data
}

fn small_params(epochs: usize) -> TrainParams {
    TrainParams {
        model: ModelKind::Fast,
        width_divisor: 8,
        epochs,
        batch_size: 32,
        lr: 0.1,
        schedule: Schedule::Cosine,
        augment: Augment::NONE,
        eval_every: 0,
        seed: 7,
        ..TrainParams::default()
    }
}

/// conv(3->4, 3x3) -> batch norm (training mode) -> relu -> mean over space -> linear(4->3).
struct Tiny {
    conv: candle_nn::Conv2d,
    bn: candle_nn::BatchNorm,
    fc: candle_nn::Linear,
}

impl Tiny {
    fn new(vb: VarBuilder) -> Tiny {
        let config = candle_nn::Conv2dConfig {
            padding: 1,
            ..Default::default()
        };
        Tiny {
            conv: candle_nn::conv2d(3, 4, 3, config, vb.pp("conv")).unwrap(),
            bn: candle_nn::batch_norm(4, candle_nn::BatchNormConfig::default(), vb.pp("bn"))
                .unwrap(),
            fc: candle_nn::linear(4, 3, vb.pp("fc")).unwrap(),
        }
    }

    fn loss(&self, x: &Tensor, y: &Tensor) -> Tensor {
        let h = self
            .bn
            .forward_t(&x.apply(&self.conv).unwrap(), true)
            .unwrap();
        let logits = h
            .relu()
            .unwrap()
            .mean((2, 3))
            .unwrap()
            .apply(&self.fc)
            .unwrap();
        candle_nn::loss::cross_entropy(&logits, y).unwrap()
    }
}

#[test]
fn gradients_match_finite_differences() {
    let device = Device::Cpu;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F64, &device);
    let net = Tiny::new(vb);
    // Non-trivial batch-norm affine parameters so their gradients are exercised.
    for (name, var) in varmap.data().lock().unwrap().iter() {
        if name == "bn.weight" {
            var.set(&Tensor::new(&[0.5f64, 1.5, -1.0, 2.0], &device).unwrap())
                .unwrap();
        }
        if name == "bn.bias" {
            var.set(&Tensor::new(&[0.1f64, -0.2, 0.3, 0.0], &device).unwrap())
                .unwrap();
        }
    }
    let x = Tensor::randn(0f64, 1.0, (4, 3, 5, 5), &device).unwrap();
    let y = Tensor::new(&[0u32, 2, 1, 2], &device).unwrap();
    let grads = net.loss(&x, &y).backward().unwrap();
    let vars: Vec<(String, candle_core::Var)> = varmap
        .data()
        .lock()
        .unwrap()
        .iter()
        .filter(|(n, _)| !n.contains("running"))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    assert_eq!(vars.len(), 6);
    let h = 1e-6;
    for (name, var) in vars {
        let analytic: Vec<f64> = grads
            .get(&var)
            .unwrap_or_else(|| panic!("no gradient for {name}"))
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let original: Vec<f64> = var.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        // A handful of entries per tensor keeps the test fast.
        for i in (0..original.len()).step_by((original.len() / 5).max(1)) {
            let loss_at = |delta: f64| {
                let mut v = original.clone();
                v[i] += delta;
                var.set(&Tensor::from_vec(v, var.dims(), &device).unwrap())
                    .unwrap();
                net.loss(&x, &y).to_scalar::<f64>().unwrap()
            };
            let numeric = (loss_at(h) - loss_at(-h)) / (2.0 * h);
            loss_at(0.0);
            let error =
                (numeric - analytic[i]).abs() / (1e-8 + numeric.abs().max(analytic[i].abs()));
            assert!(
                error < 1e-5 || (numeric - analytic[i]).abs() < 1e-9,
                "{name}[{i}]: analytic {} numeric {numeric}",
                analytic[i]
            );
        }
    }
}

#[test]
fn batch_norm_tracks_running_statistics_and_uses_them_in_eval() {
    let device = Device::Cpu;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F64, &device);
    let bn = candle_nn::batch_norm(2, candle_nn::BatchNormConfig::default(), vb).unwrap();
    // Channel 0: values 1..=8, channel 1: 10 * that.
    let c0: Vec<f64> = (1..=8).map(f64::from).collect();
    let data: Vec<f64> = (0..2)
        .flat_map(|n| {
            let c0 = c0.clone();
            [
                c0[n * 4..n * 4 + 4].to_vec(),
                c0[n * 4..n * 4 + 4].iter().map(|v| v * 10.0).collect(),
            ]
        })
        .flatten()
        .collect();
    let x = Tensor::from_vec(data, (2, 2, 2, 2), &device).unwrap();
    let train_out = bn.forward_t(&x, true).unwrap();
    // Batch statistics: mean 4.5 (45), unbiased variance 6 (600); momentum 0.1 from 0 and 1.
    let mean: Vec<f64> = bn.running_mean().to_vec1().unwrap();
    let var: Vec<f64> = bn.running_var().to_vec1().unwrap();
    let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
    assert!(close(mean[0], 0.45) && close(mean[1], 4.5), "{mean:?}");
    assert!(
        close(var[0], 0.9 + 0.6) && close(var[1], 0.9 + 60.0),
        "{var:?}"
    );
    // Training mode normalises with the batch's own (biased) statistics.
    let t: Vec<f64> = train_out.flatten_all().unwrap().to_vec1().unwrap();
    assert!(
        (t[0] - (1.0 - 4.5) / (5.25f64 + 1e-5).sqrt()).abs() < 1e-9,
        "{t:?}"
    );
    // Evaluation mode uses the running statistics and leaves them alone.
    let eval: Vec<f64> = bn
        .forward_t(&x, false)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    assert!(
        (eval[0] - (1.0 - 0.45) / (1.5f64 + 1e-5).sqrt()).abs() < 1e-9,
        "{eval:?}"
    );
    assert_eq!(bn.running_mean().to_vec1::<f64>().unwrap(), mean);
}

#[test]
fn fast_net_overfits_256_fixture_images() {
    let data = fixture(256);
    assert_eq!(data.len(), 256);
    let out = tempfile::tempdir().unwrap();
    // Small batches and a high rate: more steps per epoch is what makes a CPU run short.
    let params = TrainParams {
        eval_every: 1000,
        batch_size: 16,
        lr: 0.2,
        nesterov: true,
        ..small_params(10)
    };
    let summary = train(&params, &data, Some(&data), out.path(), &Device::Cpu, false).unwrap();
    let last = summary.log.last().unwrap();
    eprintln!(
        "{}",
        softtext::auxiliary::classifier::train::log_csv(&summary.log)
    );
    // Evaluation mode (running statistics) on the training images themselves.
    let acc = last.test_acc.unwrap();
    assert!(
        acc >= 0.95,
        "training accuracy {acc} after {} epochs",
        last.epoch
    );
    let csv = std::fs::read_to_string(&summary.log_file).unwrap();
    assert!(csv.starts_with("epoch,lr,train_loss,train_acc,test_acc,images_per_sec,seconds\n"));
    assert_eq!(csv.lines().count(), 11);
}

fn read_all(path: &Path) -> Vec<(String, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut out: Vec<(String, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.data().to_vec()))
        .collect();
    out.sort();
    out
}

/// Records what a training run reports: units done and progress messages.
#[derive(Default)]
struct CountingObserver {
    units: AtomicU64,
    messages: Mutex<Vec<String>>,
}

struct CountingProgress<'a>(&'a CountingObserver);

impl Progress for CountingProgress<'_> {
    fn advance(&self, units: u64) {
        self.0.units.fetch_add(units, Ordering::Relaxed);
    }

    fn message(&self, message: &str) {
        self.0.messages.lock().unwrap().push(message.to_string());
    }
}

impl Observer for CountingObserver {
    fn progress<'a>(&'a self, _total: u64, unit: &str) -> Box<dyn Progress + 'a> {
        assert_eq!(unit, "images");
        Box::new(CountingProgress(self))
    }
}

#[test]
fn resume_is_bit_identical_to_an_uninterrupted_run() {
    let data = fixture(48);
    let params = TrainParams {
        augment: Augment::STANDARD,
        batch_size: 16,
        ..small_params(3)
    };
    let device = Device::Cpu;
    let straight = tempfile::tempdir().unwrap();
    train(&params, &data, None, straight.path(), &device, false).unwrap();
    let split = tempfile::tempdir().unwrap();
    let observer = CountingObserver::default();
    let control = TrainControl {
        resume: false,
        stop_after: 1,
        after_epoch: &mut |_| Ok(()),
        observer: &observer,
    };
    let first = train_with(&params, &data, None, split.path(), &device, control).unwrap();
    assert_eq!(first.epochs, 1);
    // One epoch of 48 images in batches of 16, reported to the observer with its loss.
    assert_eq!(observer.units.load(Ordering::Relaxed), 48);
    let messages = observer.messages.lock().unwrap();
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert!(messages[2].starts_with("epoch 1/3 loss "), "{messages:?}");
    drop(messages);
    // Without resume an existing checkpoint is not overwritten.
    assert!(train(&params, &data, None, split.path(), &device, false).is_err());
    let rest = train(&params, &data, None, split.path(), &device, true).unwrap();
    assert_eq!((rest.start_epoch, rest.epochs), (1, 3));
    let a = read_all(&straight.path().join("checkpoint.safetensors"));
    let b = read_all(&split.path().join("checkpoint.safetensors"));
    assert!(a.iter().any(|(n, _)| n.starts_with("momentum.")));
    assert_eq!(a.len(), b.len());
    for ((na, va), (nb, vb)) in a.iter().zip(&b) {
        assert_eq!(na, nb);
        assert!(va == vb, "{na} differs after resume");
    }
    // A changed recipe is refused on resume.
    let other = TrainParams {
        lr: 0.01,
        ..params.clone()
    };
    let err = train(&other, &data, None, split.path(), &device, true)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("checkpoint.safetensors")
            && err.contains(&format!("lr: checkpoint {}, now 0.01", params.lr))
            && !err.contains("momentum"),
        "{err}"
    );
}

#[test]
fn predict_writes_top_k_and_bad_checkpoints_are_refused() {
    let data = fixture(20);
    let device = Device::Cpu;
    let out = tempfile::tempdir().unwrap();
    let params = small_params(1);
    let summary = train(&params, &data, None, out.path(), &device, false).unwrap();
    let path: PathBuf = summary.checkpoint.clone();

    let predictions = predict(&path, &data, 3, &device, 8).unwrap();
    let file = out.path().join("aux.json");
    predictions.write(&file).unwrap();
    let read = softtext::auxiliary::predictions::AuxPredictions::read(&file).unwrap();
    assert_eq!(read, {
        let mut p = predictions.clone();
        // The file remembers its own name; compare rows through a rewrite.
        p.write(&file).unwrap();
        p = softtext::auxiliary::predictions::AuxPredictions::read(&file).unwrap();
        p
    });
    let json = std::fs::read_to_string(&file).unwrap();
    assert!(json.contains(&data.samples[0].id), "{json}");
    assert!(predict(&path, &data, 1, &device, 8).is_err());
    assert!(predict(&path, &data, 11, &device, 8).is_err());

    // Scores are softmax probabilities, best first, and top-1 matches the model's argmax.
    let checkpoint = Checkpoint::read(&path).unwrap();
    let model = softtext::auxiliary::classifier::predict::load_model(&checkpoint, &device).unwrap();
    let images = softtext::auxiliary::classifier::augment::Images::decode(&data).unwrap();
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
    let (x, _) = softtext::auxiliary::classifier::augment::batch(
        &images,
        &[0, 1],
        Augment::NONE,
        &mut rng,
        &device,
    )
    .unwrap();
    let top1: Vec<u32> = model
        .forward_t(&x, false)
        .unwrap()
        .argmax(D::Minus1)
        .unwrap()
        .to_vec1()
        .unwrap();
    let csv_file = out.path().join("aux.csv");
    predictions.write(&csv_file).unwrap();
    let csv = std::fs::read_to_string(&csv_file).unwrap();
    let row: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(row[1].parse::<u32>().unwrap(), top1[0]);
    let scores: Vec<f32> = [2, 4, 6].iter().map(|&i| row[i].parse().unwrap()).collect();
    assert!(
        scores[0] >= scores[1] && scores[1] >= scores[2] && scores[0] <= 1.0,
        "{row:?}"
    );

    let bytes = std::fs::read(&path).unwrap();
    let expect_refusal = |name: &str, bytes: &[u8], needle: &str| {
        let bad = out.path().join(name);
        std::fs::write(&bad, bytes).unwrap();
        let err = predict(&bad, &data, 2, &device, 8).unwrap_err().to_string();
        assert!(!err.contains('\n'), "{err}");
        assert!(err.contains(name) && err.contains(needle), "{name}: {err}");
    };
    expect_refusal(
        "truncated.safetensors",
        &bytes[..bytes.len() - 100],
        "safetensors",
    );
    expect_refusal(
        "garbage.safetensors",
        b"not a checkpoint at all",
        "safetensors",
    );

    // Rewrite the checkpoint with one tensor removed, one reshaped, or another kind.
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let metadata = header.metadata().clone().unwrap();
    let tensors: Vec<(String, safetensors::tensor::TensorView)> = st.tensors();
    let rewrite = |skip: &str,
                   reshape: &str,
                   metadata: std::collections::HashMap<String, String>| {
        let mut kept: Vec<(String, safetensors::tensor::TensorView)> = Vec::new();
        for (name, view) in &tensors {
            if name == skip {
                continue;
            }
            let view = if name == reshape {
                let n: usize = view.shape().iter().product();
                safetensors::tensor::TensorView::new(view.dtype(), vec![n], view.data()).unwrap()
            } else {
                view.clone()
            };
            kept.push((name.clone(), view));
        }
        safetensors::serialize(kept, Some(metadata)).unwrap()
    };
    expect_refusal(
        "missing.safetensors",
        &rewrite("model.classifier.weight", "", metadata.clone()),
        "tensor model.classifier.weight is missing",
    );
    expect_refusal(
        "reshaped.safetensors",
        &rewrite("", "model.prep.conv.weight", metadata.clone()),
        "tensor model.prep.conv.weight has shape",
    );
    let mut wrong_kind = metadata.clone();
    let json =
        wrong_kind["softtext.checkpoint"].replace("\"kind\":\"fast\"", "\"kind\":\"resnet50\"");
    wrong_kind.insert("softtext.checkpoint".into(), json);
    expect_refusal(
        "kind.safetensors",
        &rewrite("", "", wrong_kind),
        "does not match",
    );
    // Weights of a fast net under ResNet18 metadata: the architecture rebuilds as ResNet18
    // and its tensors are missing.
    let mut resnet = metadata.clone();
    let meta: serde_json::Value = serde_json::from_str(&resnet["softtext.checkpoint"]).unwrap();
    let mut meta = meta;
    meta["kind"] = "resnet18".into();
    meta["config"] = serde_json::json!({"resnet": {"block": "basic", "layers": [1,1,1,1], "widths": [4,4,4,4], "in_channels": 3, "num_classes": 10}});
    resnet.insert("softtext.checkpoint".into(), meta.to_string());
    expect_refusal(
        "resnet.safetensors",
        &rewrite("", "", resnet),
        "unexpected tensor",
    );
    let mut format = metadata.clone();
    format.insert("softtext.format".into(), "something-else".into());
    expect_refusal(
        "format.safetensors",
        &rewrite("", "", format),
        "not a softtext classifier checkpoint",
    );
}

#[test]
fn parameter_errors_name_the_field() {
    let cases: Vec<(TrainParams, TrainParam, &str)> = vec![
        (
            TrainParams {
                epochs: 0,
                ..small_params(1)
            },
            TrainParam::Epochs,
            "epochs must be at least 1",
        ),
        (
            TrainParams {
                batch_size: 1,
                ..small_params(1)
            },
            TrainParam::BatchSize,
            "batch size must be at least 2, is 1",
        ),
        (
            TrainParams {
                eval_batch_size: 0,
                ..small_params(1)
            },
            TrainParam::EvalBatchSize,
            "evaluation batch size must be at least 1",
        ),
        (
            TrainParams {
                width_divisor: 0,
                ..small_params(1)
            },
            TrainParam::WidthDivisor,
            "width divisor must be at least 1",
        ),
        (
            TrainParams {
                limit_train: Some(1),
                ..small_params(1)
            },
            TrainParam::LimitTrain,
            "limit-train must keep at least 2 images",
        ),
        (
            TrainParams {
                limit_test: Some(0),
                ..small_params(1)
            },
            TrainParam::LimitTest,
            "limit-test must keep at least 1 image",
        ),
        (
            TrainParams {
                schedule: Schedule::Step {
                    every: 0,
                    gamma: 0.5,
                },
                ..small_params(1)
            },
            TrainParam::Schedule,
            "step schedule needs every > 0 and a finite gamma > 0, got every 0, gamma 0.5",
        ),
        (
            TrainParams {
                lr: -1.0,
                ..small_params(1)
            },
            TrainParam::Lr,
            "learning rate must be finite and >= 0, is -1",
        ),
        (
            TrainParams {
                momentum: 1.0,
                ..small_params(1)
            },
            TrainParam::Momentum,
            "momentum must be in [0, 1), is 1",
        ),
        (
            TrainParams {
                weight_decay: f64::NAN,
                ..small_params(1)
            },
            TrainParam::WeightDecay,
            "weight decay must be finite and >= 0, is NaN",
        ),
        (
            TrainParams {
                nesterov: true,
                momentum: 0.0,
                ..small_params(1)
            },
            TrainParam::Nesterov,
            "Nesterov momentum needs momentum > 0",
        ),
    ];
    for (params, param, message) in cases {
        let err = params.check().unwrap_err();
        assert!(
            matches!(&err, ClassifierError::InvalidParam { param: p, .. } if *p == param),
            "{err:?}"
        );
        assert_eq!(err.param(), Some(param));
        assert_eq!(err.to_string(), message);
        // The name is the field's, as in a TOML [auxiliary.train] table.
        let json = serde_json::to_value(TrainParams::default()).unwrap();
        assert!(json.get(param.name()).is_some(), "{}", param.name());
    }
    assert!(small_params(1).check().is_ok());
}
