//! All protocols and combinations on 10,000 random unit image vectors (D = 768) against the
//! full CIFAR-10 vocabulary: 90 ordered pairs × 3 paper relations + 18 hard templates × 10
//! classes = 450 texts. Auxiliary source `self` (k = 5), λ grid of 11, 1,000 bootstrap
//! resamples: 118 table rows (2 hard + 4 prompt sets × 29).

use criterion::{criterion_group, criterion_main, Criterion};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use softtext::prompts::PromptConfig;
use softtext::zeroshot::{
    evaluate, plan_texts, similarity_matrix, AuxSource, EvalParams, ImageSet, TextBank,
    ValidEvalParams,
};

const IMAGES: usize = 10_000;
const DIM: usize = 768;

fn unit_rows(rng: &mut ChaCha8Rng, rows: usize) -> Vec<f32> {
    let mut values: Vec<f32> = (0..rows * DIM)
        .map(|_| rng.random_range(-1.0f32..1.0))
        .collect();
    for row in values.chunks_exact_mut(DIM) {
        let norm: f32 = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        row.iter_mut().for_each(|v| *v /= norm);
    }
    values
}

fn bench_zeroshot(criterion: &mut Criterion) {
    let config: PromptConfig =
        PromptConfig::from_toml_str("[hard]\npreset = \"openai-cifar10\"").expect("config");
    let params: ValidEvalParams = EvalParams::default().check().expect("params");
    let aux: AuxSource = AuxSource::SelfRanking;
    let plan = plan_texts(&params, &config, &aux).expect("plan");
    assert_eq!(plan.len(), 450);
    let mut rng: ChaCha8Rng = ChaCha8Rng::seed_from_u64(7);
    let bank: TextBank =
        TextBank::new(plan.texts().to_vec(), unit_rows(&mut rng, plan.len()), DIM).expect("bank");
    let embeddings: Vec<f32> = unit_rows(&mut rng, IMAGES);
    let labels: Vec<usize> = (0..IMAGES).map(|i| i % 10).collect();
    let ids: Vec<String> = (0..IMAGES).map(|i| format!("test/{i:05}.png")).collect();
    let images: ImageSet<'_> = ImageSet::new(&embeddings, DIM, &labels, &ids).expect("images");

    let mut group = criterion.benchmark_group("zeroshot");
    group.sample_size(10);
    group.bench_function("evaluate_all_protocols_10k", |bencher| {
        bencher.iter(|| {
            let report = evaluate(&params, &config, &images, &aux, &bank).expect("evaluate");
            assert_eq!(report.rows.len(), 118);
            report
        })
    });
    let texts: Vec<f32> = bank.gather(plan.texts()).expect("gather");
    group.bench_function("similarity_matrix_10k_x_450", |bencher| {
        bencher.iter(|| similarity_matrix(&embeddings, images.inverse_norms(), &texts, DIM))
    });
    group.finish();
}

criterion_group!(benches, bench_zeroshot);
criterion_main!(benches);
