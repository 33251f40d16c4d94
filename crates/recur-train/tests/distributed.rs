//! The trainer across ranks without MPI: ranks are threads joined by an in-process
//! [`Collective`], so the layout rules are checked in every test run. 2 ranks × 1 thread give
//! the bits of 1 × 2, and 2 × 2 those of 1 × 4, with BatchNorm and dropout, on batches that
//! leave a rank short of shards or without any; a rank that fails stops the others; ranks that
//! disagree are told so.

use recur_core::{Rng, Seq};
use recur_nn::{Model, ModelConfig};
use recur_train::distributed::{self, Collective};
use recur_train::{Loss, OptimizerConfig, Schedule, Targets, TrainConfig, Trainer};
use std::rc::Rc;
use std::sync::{Arc, Barrier, Mutex};

/// Slots where each rank leaves its buffer, and a barrier to meet at.
struct Meeting {
    f32s: Mutex<Vec<Vec<f32>>>,
    f64s: Mutex<Vec<Vec<f64>>>,
    words: Mutex<Vec<u64>>,
    barrier: Barrier,
}

/// One rank's side of a [`Meeting`]; sums in rank order, as an all-reduce of two ranks does.
struct Rank {
    rank: usize,
    meeting: Arc<Meeting>,
}

impl Rank {
    fn exchange<T: Copy + std::ops::AddAssign>(&self, slots: &Mutex<Vec<Vec<T>>>, values: &mut [T]) {
        slots.lock().unwrap()[self.rank] = values.to_vec();
        self.meeting.barrier.wait();
        {
            let all = slots.lock().unwrap();
            values.copy_from_slice(&all[0]);
            for other in &all[1..] {
                values.iter_mut().zip(other).for_each(|(a, b)| *a += *b);
            }
        }
        // Nobody writes the next buffer before everyone has read this one.
        self.meeting.barrier.wait();
    }
}

impl Collective for Rank {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.meeting.words.lock().unwrap().len()
    }

    fn sum_f32(&self, values: &mut [f32]) {
        self.exchange(&self.meeting.f32s, values);
    }

    fn sum_f64(&self, values: &mut [f64]) {
        self.exchange(&self.meeting.f64s, values);
    }

    fn gather_u64(&self, value: u64) -> Vec<u64> {
        self.meeting.words.lock().unwrap()[self.rank] = value;
        self.meeting.barrier.wait();
        let all = self.meeting.words.lock().unwrap().clone();
        self.meeting.barrier.wait();
        all
    }
}

/// Runs `work(rank)` on `ranks` threads, each a rank of one group; results in rank order.
fn on_ranks<R: Send>(ranks: usize, work: impl Fn(usize) -> R + Sync) -> Vec<R> {
    let meeting = Arc::new(Meeting {
        f32s: Mutex::new(vec![Vec::new(); ranks]),
        f64s: Mutex::new(vec![Vec::new(); ranks]),
        words: Mutex::new(vec![0; ranks]),
        barrier: Barrier::new(ranks),
    });
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..ranks)
            .map(|rank| {
                let (meeting, work) = (meeting.clone(), &work);
                s.spawn(move || {
                    distributed::install(Rc::new(Rank { rank, meeting }));
                    work(rank)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Random sequences of 3–9 steps with class targets.
fn batch(n: usize, seed: u64) -> (Seq<f32>, Targets) {
    let mut rng = Rng::new(seed);
    let time = 9;
    let data = (0..n * time * 2).map(|_| rng.uniform_range(-1.0, 1.0) as f32).collect();
    let lengths = (0..n).map(|_| 3 + rng.below(7)).collect();
    let classes = (0..n).map(|_| rng.below(3)).collect();
    (Seq::new(data, n, time, 2, lengths).unwrap(), Targets::Classes(classes))
}

/// BatchNorm (statistics per shard, running averages combined) and dropout (masks per shard).
fn trainer(threads: usize) -> Trainer<Model<f32>> {
    let c = ModelConfig::from_json(
        r#"{"input_size": 2, "layers": [{"type": "conv1d", "filters": 6, "kernel_size": 3, "padding": "same"},
            {"type": "batch_norm"}, {"type": "dropout", "rate": 0.3}, {"type": "gru", "units": 5},
            {"type": "dense", "units": 3}]}"#,
    )
    .unwrap();
    let config = TrainConfig {
        loss: Loss::SoftmaxCrossEntropy { label_smoothing: 0.0 },
        optimizer: OptimizerConfig::adam(),
        clip: None,
        schedule: Schedule::Constant { lr: 0.01 },
        threads,
        seed: 3,
    };
    Trainer::new(Model::new(c, 5).unwrap(), config)
}

/// Every value of the model (weights and running statistics) after steps on batches of 7, 3
/// and 1 sequences (a 2 × 2 layout leaves the last rank one shard, then none), with the losses.
fn train(threads: usize) -> (Vec<f32>, Vec<f64>) {
    let mut t = trainer(threads);
    let mut losses = Vec::new();
    for (k, n) in [7, 3, 1, 7].into_iter().enumerate() {
        let (x, y) = batch(n, k as u64);
        losses.push(t.train_step(&x, &y).unwrap().loss);
    }
    let values = t
        .model
        .named_params()
        .iter()
        .flat_map(|(_, p)| p.value.clone())
        .collect();
    (values, losses)
}

#[test]
fn distributed_ranks_give_the_bits_of_one_process_with_as_many_threads() {
    let alone2 = on_ranks(1, |_| train(2)).remove(0);
    for got in on_ranks(2, |_| train(1)) {
        assert_eq!(got, alone2, "2 ranks × 1 thread = 1 × 2");
    }
    let alone4 = on_ranks(1, |_| train(4)).remove(0);
    for got in on_ranks(2, |_| train(2)) {
        assert_eq!(got, alone4, "2 ranks × 2 threads = 1 × 4");
    }
    // Plain single-process training (no group) is the one-rank case.
    assert_eq!(train(2), alone2);
}

#[test]
fn distributed_rank_that_fails_stops_every_rank() {
    let errors = on_ranks(2, |rank| {
        let mut t = trainer(1);
        let (x, y) = batch(4, 1);
        let bad = Seq::new(vec![0.0; 4 * 9 * 3], 4, 9, 3, vec![9; 4]).unwrap();
        let input = if rank == 1 { &bad } else { &x };
        let e = t.train_step(input, &y).unwrap_err().to_string();
        (e, distributed::failure_is_shared())
    });
    let errors: Vec<String> = errors
        .into_iter()
        .enumerate()
        .map(|(rank, (e, shared))| {
            assert_eq!(shared, rank == 0, "only the rank told of another's failure shares it");
            e
        })
        .collect();
    assert!(errors[0].contains("rank 1 failed at step 1"), "{}", errors[0]);
    assert!(
        errors[1].contains("feature"),
        "rank 1 tells its own error: {}",
        errors[1]
    );
}

#[test]
fn distributed_ranks_that_disagree_are_named() {
    let results = on_ranks(3, |rank| {
        let t = trainer(1);
        let r = t.agree("the data", || if rank == 2 { 9 } else { 1 });
        (r.map_err(|e| e.to_string()), distributed::failure_is_shared())
    });
    for (r, shared) in results {
        assert!(shared, "every rank gets the disagreement");
        let e = r.unwrap_err();
        assert!(e.contains("the ranks disagree on the data: rank 2 differs"), "{e}");
    }
    assert!(on_ranks(2, |_| trainer(1).agree("x", || 4).is_ok())
        .into_iter()
        .all(|ok| ok));
}

#[test]
fn distributed_gather_of_word_lists_keeps_every_bit_in_rank_order() {
    let lists: [&[u64]; 3] = [&[u64::MAX, 0, 1 << 63], &[], &[0x0123_4567_89ab_cdef]];
    let results = on_ranks(3, |rank| {
        distributed::group().expect("installed").gather_u64s(lists[rank])
    });
    let expected: Vec<u64> = lists.concat();
    for got in results {
        assert_eq!(got, expected);
    }
}
