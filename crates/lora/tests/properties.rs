//! Properties of adapter files and merging over generated adapters (proptest; failing seeds are
//! saved to `properties.proptest-regressions` beside this file and replayed first).

use std::collections::BTreeMap;

use lora::{LoraAdapter, LoraConfig, LoraPair, Matrix, WeightFile, WeightTensor};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use safetensors::Dtype;

fn matrix(rows: usize, cols: usize) -> impl Strategy<Value = Matrix> {
    prop::collection::vec(-4.0f32..4.0, rows * cols).prop_map(move |values| Matrix { rows, cols, data: values })
}

/// An adapter over q/v projections of a few layers, rank `r`, each module its own shape.
fn adapter() -> impl Strategy<Value = LoraAdapter> {
    (1usize..5).prop_flat_map(|r| {
        let module = (0usize..4, prop::bool::ANY, 1usize..7, 1usize..7).prop_flat_map(move |(layer, q, inp, out)| {
            let name = format!("model.layers.{layer}.self_attn.{}_proj", if q { "q" } else { "v" });
            (Just(name), matrix(r, inp), matrix(out, r)).prop_map(|(n, a, b)| (n, LoraPair { a, b }))
        });
        prop::collection::vec(module, 1..5).prop_map(move |modules| LoraAdapter {
            config: LoraConfig::new(r, 2.0 * r as f64, &["q_proj", "v_proj"]),
            modules: modules.into_iter().collect::<BTreeMap<_, _>>(),
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn adapter_files_round_trip_exactly(adapter in adapter()) {
        let bytes = adapter.to_safetensors().unwrap();
        let again = LoraAdapter::from_safetensors(adapter.config.clone(), &bytes).unwrap();
        prop_assert_eq!(&again, &adapter);
        let json = adapter.config.to_json().unwrap();
        prop_assert_eq!(LoraConfig::from_json(&json).unwrap(), adapter.config);
    }

    #[test]
    fn merge_then_unmerge_restores_the_base(adapter in adapter(), seed in any::<u32>()) {
        let mut weights = WeightFile::default();
        for (module, pair) in &adapter.modules {
            let n = pair.b.rows * pair.a.cols;
            let values = (0..n).map(|i| ((seed as usize * 31 + i * 17) % 97) as f32 / 24.0 - 2.0).collect();
            weights.tensors.insert(
                format!("{module}.weight"),
                WeightTensor { dtype: Dtype::F32, shape: vec![pair.b.rows, pair.a.cols], values },
            );
        }
        let base = weights.clone();
        prop_assert_eq!(adapter.merge_into(&mut weights, false).unwrap(), adapter.modules.len());
        // The merged weight is the base plus scaling·B·A.
        for (module, pair) in &adapter.modules {
            let key = format!("{module}.weight");
            let delta = pair.delta(adapter.config.scaling());
            for ((m, b), d) in weights.tensors[&key].values.iter().zip(&base.tensors[&key].values).zip(&delta) {
                prop_assert!(((*m - *b) as f64 - d).abs() <= 1e-5 * (1.0 + d.abs() + b.abs() as f64));
            }
        }
        adapter.merge_into(&mut weights, true).unwrap();
        for (key, t) in &weights.tensors {
            for (after, before) in t.values.iter().zip(&base.tensors[key].values) {
                prop_assert!((after - before).abs() <= 1e-4 * (1.0 + before.abs()), "{key}: {after} vs {before}");
            }
        }
    }
}
