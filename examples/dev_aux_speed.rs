//! Training throughput of each auxiliary model on a small subset, and optionally a short
//! run of the fast net: `dev_aux_speed TRAIN_SPEC [TEST_SPEC N_TRAIN N_TEST EPOCHS]`.

use candle_core::Device;
use softtext::auxiliary::classifier::augment::Augment;
use softtext::auxiliary::classifier::{train, ModelKind, Schedule, TrainParams};
use softtext::data::{Dataset, Split};

fn main() -> softtext::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let train_data = Dataset::load(&args[1].parse()?, Split::Train, None)?;
    let models: Vec<ModelKind> = std::env::var("MODELS")
        .map(|m| m.split(',').map(|s| s.parse().unwrap()).collect())
        .unwrap_or(ModelKind::ALL.to_vec());
    if args.len() == 2 {
        for model in models {
            let params = TrainParams {
                model,
                epochs: 1,
                limit_train: Some(std::env::var("LIMIT").map_or(256, |v| v.parse().unwrap())),
                eval_every: 0,
                ..TrainParams::default()
            };
            let dir = tempfile::tempdir().unwrap();
            let s = train(&params, &train_data, None, dir.path(), &Device::Cpu, false)?;
            let r = &s.log[0];
            println!(
                "{model}: {:.1} images/s ({:.1} s for the epoch)",
                r.images_per_sec, r.seconds
            );
        }
        return Ok(());
    }
    let test_data = Dataset::load(&args[2].parse()?, Split::Test, None)?;
    let epochs: usize = args[5].parse().unwrap();
    let params = TrainParams {
        model: ModelKind::Fast,
        epochs,
        batch_size: 64,
        lr: 0.05,
        schedule: Schedule::Cosine,
        augment: Augment::STANDARD,
        eval_every: 1,
        limit_train: Some(args[3].parse().unwrap()),
        limit_test: Some(args[4].parse().unwrap()),
        ..TrainParams::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let s = train(
        &params,
        &train_data,
        Some(&test_data),
        dir.path(),
        &Device::Cpu,
        false,
    )?;
    print!(
        "{}",
        softtext::auxiliary::classifier::train::log_csv(&s.log)
    );
    Ok(())
}
