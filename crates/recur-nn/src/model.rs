//! [`Model`]: layers wired as a stack or a graph (see [`crate::graph`]), built from a
//! [`ModelConfig`], with the checks that turn bad input into clear errors before any layer
//! sees it.
//!
//! Forward runs through `&self` and returns a [`ModelTape`], one entry per node, that backward
//! consumes: threads and beams share one model for inference, and a layer shared by several
//! nodes runs once per node with its gradients summed.

use crate::config::ModelConfig;
use crate::error::{NnError, Result};
use crate::graph::{Plan, PlannedNode, Source, Step};
use crate::layer::{Ctx, Layer, Param, Tape};
use crate::merge::MergeTape;
use crate::precision::{InferencePath, Precision};
use crate::spec::describe;
use recur_core::{Float, Rng, Seq, Shape};

/// A model: its config, its compiled plan and its layers.
pub struct Model<T> {
    config: ModelConfig,
    plan: Plan,
    layers: Vec<Box<dyn Layer<T>>>,
}

impl<T: Float> Clone for Model<T> {
    fn clone(&self) -> Self {
        Model {
            config: self.config.clone(),
            plan: self.plan.clone(),
            layers: self.layers.iter().map(|l| l.clone_box()).collect(),
        }
    }
}

/// What a training-mode forward of a whole model leaves for its backward.
pub struct ModelTape<T> {
    nodes: Vec<NodeTape<T>>,
}

enum NodeTape<T> {
    Layer(Tape),
    Merge(Option<MergeTape<T>>),
}

impl<T: Float> Model<T> {
    /// A freshly initialised model; the same seed gives the same weights.
    pub fn new(config: ModelConfig, seed: u64) -> Result<Self> {
        Self::build(config, Some(&mut Rng::new(seed)))
    }

    /// A model to load a checkpoint into: built without initialising weights it will replace.
    pub fn for_loading(config: ModelConfig) -> Result<Self> {
        Self::build(config, None)
    }

    fn build(config: ModelConfig, mut rng: Option<&mut Rng>) -> Result<Self> {
        let plan = Plan::new(&config)?;
        let layers = plan
            .layers
            .iter()
            .map(|l| l.config.build::<T>(l.input, rng.as_deref_mut()))
            .collect();
        Ok(Model { config, plan, layers })
    }

    /// The config this model was built from.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Mutable config (e.g. to record class names before saving).
    pub fn config_mut(&mut self) -> &mut ModelConfig {
        &mut self.config
    }

    /// The compiled graph: inputs, nodes in evaluation order, outputs.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The first output per sequence (the only one for most models).
    pub fn output_shape(&self) -> Shape {
        self.plan.nodes[self.plan.outputs[0]].shape
    }

    /// The shape of each input.
    pub fn input_shapes(&self) -> Vec<Shape> {
        self.plan.inputs.iter().map(|(_, s)| *s).collect()
    }

    /// Checks that `x` fits a one-input model: feature count, finite values, layer rules.
    pub fn check_input(&self, x: &Seq<T>) -> Result<()> {
        self.check_inputs(std::slice::from_ref(x))
    }

    /// Checks every input: count, kind, feature count, batch, finite values, layer rules.
    pub fn check_inputs(&self, xs: &[Seq<T>]) -> Result<()> {
        let inputs = &self.plan.inputs;
        if xs.len() != inputs.len() {
            return Err(NnError::Input(format!(
                "the model takes {} inputs, {} were given",
                inputs.len(),
                xs.len()
            )));
        }
        let several = inputs.len() > 1;
        for (x, (name, shape)) in xs.iter().zip(inputs) {
            let which = if several {
                format!("input `{name}`: ")
            } else {
                String::new()
            };
            if x.features != shape.features {
                return Err(NnError::Input(format!(
                    "{which}the model takes {} features per step, the input has {}",
                    shape.features, x.features
                )));
            }
            if x.sequential != shape.sequential {
                return Err(NnError::Input(format!(
                    "{which}the model takes {}, the input is {}",
                    describe(*shape),
                    describe(x.shape())
                )));
            }
            if x.batch != xs[0].batch {
                return Err(NnError::Input(format!(
                    "{which}batch {} differs from the first input's {}",
                    x.batch, xs[0].batch
                )));
            }
            if let Some((b, t, f)) = x.find_non_finite() {
                return Err(NnError::Input(format!(
                    "{which}non-finite value at sequence {b}, step {t}, feature {f}"
                )));
            }
        }
        for node in &self.plan.nodes {
            if let (Step::Layer(l), [Source::Input(i)]) = (&node.step, node.sources.as_slice()) {
                self.layers[*l].check_input(&xs[*i]).map_err(NnError::Input)?;
            }
        }
        Ok(())
    }

    /// Inference on a one-input, one-output model, after checking the input.
    pub fn predict(&self, x: Seq<T>) -> Result<Seq<T>> {
        self.check_input(&x)?;
        let mut rng = Rng::new(0);
        let mut ctx = Ctx::new(false, &mut rng);
        let (mut ys, _) = self.forward_unchecked(vec![x], &mut ctx)?;
        Ok(ys.swap_remove(0))
    }

    /// Runs the graph after checking the inputs; returns every output and the tape.
    pub fn forward(&self, xs: Vec<Seq<T>>, ctx: &mut Ctx) -> Result<(Vec<Seq<T>>, ModelTape<T>)> {
        self.check_inputs(&xs)?;
        self.forward_unchecked(xs, ctx)
    }

    /// Runs the graph; the caller has checked the inputs. Fails only where sequences from
    /// different inputs meet in a merge and do not line up.
    pub fn forward_unchecked(&self, xs: Vec<Seq<T>>, ctx: &mut Ctx) -> Result<(Vec<Seq<T>>, ModelTape<T>)> {
        let plan = &self.plan;
        // Each value is moved to its last consumer and cloned for the others (a stack copies
        // nothing).
        let mut uses_left_in = vec![0usize; plan.inputs.len()];
        let mut uses_left = vec![0usize; plan.nodes.len()];
        for node in &plan.nodes {
            for s in &node.sources {
                match *s {
                    Source::Input(i) => uses_left_in[i] += 1,
                    Source::Node(n) => uses_left[n] += 1,
                }
            }
        }
        for &o in &plan.outputs {
            uses_left[o] += 1;
        }
        let mut inputs: Vec<Option<Seq<T>>> = xs.into_iter().map(Some).collect();
        let mut values: Vec<Option<Seq<T>>> = vec![None; plan.nodes.len()];
        let mut tapes = Vec::with_capacity(plan.nodes.len());
        for (n, node) in plan.nodes.iter().enumerate() {
            let args: Vec<Seq<T>> = node
                .sources
                .iter()
                .map(|&s| {
                    let (slot, left) = match s {
                        Source::Input(i) => (&mut inputs[i], &mut uses_left_in[i]),
                        Source::Node(m) => (&mut values[m], &mut uses_left[m]),
                    };
                    *left -= 1;
                    let value = if *left == 0 { slot.take() } else { slot.clone() };
                    value.expect("a value is consumed only by the uses counted for it")
                })
                .collect();
            let (y, tape) = match &node.step {
                Step::Layer(l) => {
                    let x = args.into_iter().next().expect("a layer node has one source");
                    let (y, tape) = self.layers[*l].forward(x, ctx);
                    (y, NodeTape::Layer(tape))
                }
                Step::Merge(m) => {
                    let (y, tape) = m
                        .forward(args, ctx.training)
                        .map_err(|e| NnError::Input(format!("node `{}`: {e}", node.name)))?;
                    (y, NodeTape::Merge(tape))
                }
            };
            values[n] = Some(y);
            tapes.push(tape);
        }
        let outputs = plan
            .outputs
            .iter()
            .map(|&o| {
                uses_left[o] -= 1;
                let value = if uses_left[o] == 0 {
                    values[o].take()
                } else {
                    values[o].clone()
                };
                value.expect("outputs are counted uses")
            })
            .collect();
        Ok((outputs, ModelTape { nodes: tapes }))
    }

    /// Back-propagates through the forward call that made `tape`: `d_outputs` holds the loss's
    /// gradient for each output. Accumulates parameter gradients and returns the gradient of
    /// each input, or `None` for each when `input_grads` is false (training needs none, and a
    /// first LSTM then skips one large GEMM).
    pub fn backward(&mut self, tape: ModelTape<T>, d_outputs: Vec<Seq<T>>, input_grads: bool) -> Vec<Option<Seq<T>>> {
        let (plan, layers) = (&self.plan, &mut self.layers);
        let mut grads: Vec<Option<Seq<T>>> = vec![None; plan.nodes.len()];
        let mut input_g: Vec<Option<Seq<T>>> = vec![None; plan.inputs.len()];
        for (&o, dy) in plan.outputs.iter().zip(d_outputs) {
            accumulate(&mut grads[o], dy);
        }
        for ((n, node), node_tape) in plan.nodes.iter().enumerate().zip(tape.nodes).rev() {
            let Some(dy) = grads[n].take() else { continue };
            let wanted = |s: &Source| matches!(s, Source::Node(_)) || input_grads;
            let dxs = match (&node.step, node_tape) {
                (Step::Layer(l), NodeTape::Layer(t)) => {
                    let want = wanted(&node.sources[0]);
                    vec![layers[*l].backward(t, dy, want)]
                }
                (Step::Merge(m), NodeTape::Merge(Some(t))) => m.backward(t, dy, node.sources.len()),
                _ => panic!(
                    "node `{}`: backward needs the tape of a training-mode forward",
                    node.name
                ),
            };
            for (s, dx) in node.sources.iter().zip(dxs) {
                if !wanted(s) {
                    continue;
                }
                match *s {
                    Source::Input(i) => accumulate(&mut input_g[i], dx),
                    Source::Node(m) => accumulate(&mut grads[m], dx),
                }
            }
        }
        input_g
    }

    /// True when some layer sets values from data before training (see [`Model::adapt`]).
    pub fn needs_adapt(&self) -> bool {
        self.layers.iter().any(|l| l.needs_adapt())
    }

    /// Sets every layer that takes values from data (Keras's `adapt`, e.g. MiniRocket's
    /// biases) from `xs`, a sample of the model's inputs; `seed` draws what they sample. Such
    /// a layer must read a model input directly.
    pub fn adapt(&mut self, xs: &[Seq<T>], seed: u64) -> Result<()> {
        self.check_inputs(xs)?;
        let mut rng = Rng::new(seed);
        for node in &self.plan.nodes {
            let Step::Layer(l) = node.step else { continue };
            if !self.layers[l].needs_adapt() {
                continue;
            }
            match node.sources.as_slice() {
                [Source::Input(i)] => self.layers[l]
                    .adapt(&xs[*i], &mut rng)
                    .map_err(|e| NnError::Input(format!("{}: {e}", node.name)))?,
                _ => {
                    return Err(NnError::Config(format!(
                        "{} ({}) sets itself from the data, so it must read a model input",
                        node.name, node.kind
                    )))
                }
            }
        }
        Ok(())
    }

    /// Every tensor with its checkpoint name `{node}.{name}` (`layers.{i}.{name}` in a stack).
    pub fn named_params(&self) -> Vec<(String, &Param<T>)> {
        self.layers
            .iter()
            .zip(&self.plan.layers)
            .flat_map(|(l, planned)| {
                l.params()
                    .into_iter()
                    .map(move |p| (format!("{}.{}", planned.prefix, p.name), p))
            })
            .collect()
    }

    /// Every tensor, mutable, in the order of [`Model::named_params`].
    pub fn params_mut(&mut self) -> Vec<&mut Param<T>> {
        self.layers.iter_mut().flat_map(|l| l.params_mut()).collect()
    }

    /// Prepares the model for inference at `precision`: every layer with a reduced-precision
    /// kernel (recurrent layers' input and recurrent products, dense, conv1d) keeps a packed
    /// copy of its weights beside the f32 ones, which stay as they are (nothing is written).
    /// Returns the layers with weight products that run in fp32 all the same, as `name (kind:
    /// why)`, for the caller to report once: those without such a kernel, and at int8 those
    /// fed features int8 would lose ([`Layer::output_needs_full_precision`]). fp32 drops the
    /// packed copies; so does any change to the weights ([`Model::params_mut`]).
    pub fn prepare_inference(&mut self, precision: Precision) -> Vec<String> {
        let fine = self.fed_fine_features();
        let mut fallbacks = Vec::new();
        for (l, (layer, planned)) in self.layers.iter_mut().zip(&self.plan.layers).enumerate() {
            let asked = if precision == Precision::Int8 && fine[l] {
                Precision::Fp32
            } else {
                precision
            };
            let why = match layer.prepare_inference(asked) {
                InferencePath::Fp32Fallback => format!("no {precision} kernel"),
                InferencePath::AtPrecision if asked != precision => {
                    "int8 would round its input features away".to_string()
                }
                _ => continue,
            };
            fallbacks.push(format!("{} ({}: {why})", planned.prefix, layer.kind()));
        }
        fallbacks
    }

    /// For each layer, whether a node running it reads features int8 would lose: the output of
    /// a layer that says so, carried through layers without a weight matrix (dropout, batch
    /// norm, activations, pooling) and merges, which keep the features' fine differences.
    fn fed_fine_features(&self) -> Vec<bool> {
        let mut fed = vec![false; self.layers.len()];
        let mut fine_out = vec![false; self.plan.nodes.len()];
        for (n, node) in self.plan.nodes.iter().enumerate() {
            let fine_in = node
                .sources
                .iter()
                .any(|s| matches!(*s, Source::Node(m) if fine_out[m]));
            fine_out[n] = match node.step {
                Step::Layer(l) => {
                    fed[l] |= fine_in;
                    let layer = &self.layers[l];
                    layer.output_needs_full_precision() || (fine_in && !layer.has_weight_matrix())
                }
                Step::Merge(_) => fine_in,
            };
        }
        fed
    }

    /// Zeroes every gradient.
    pub fn zero_grad(&mut self) {
        for p in self.params_mut() {
            p.grad.iter_mut().for_each(|g| *g = T::ZERO);
        }
    }

    /// Copies every tensor's values (not gradients) from a model of the same config, or, in
    /// order, the first tensors of a model whose leading layers are this one's (e.g. a stack
    /// without its last layer).
    pub fn copy_values_from(&mut self, other: &Model<T>) {
        for (dst, src) in self.params_mut().into_iter().zip(other.named_params()) {
            dst.value.copy_from_slice(&src.1.value);
        }
    }

    /// Number of trainable scalars.
    pub fn trainable_count(&self) -> usize {
        self.named_params()
            .iter()
            .filter(|(_, p)| p.trainable)
            .map(|(_, p)| p.len())
            .sum()
    }

    /// Approximate forward FLOPs (2 per multiply-add) for one sequence of `length` steps, for
    /// throughput reports. A node after the time axis is gone (a dense layer on an LSTM's last
    /// state) runs once per sequence, not once per step.
    pub fn forward_flops_per_sequence(&self, length: usize) -> usize {
        self.plan
            .nodes
            .iter()
            .filter_map(|node| match node.step {
                Step::Layer(l) => {
                    let steps = if node.input_shapes[0].sequential { length } else { 1 };
                    Some(self.layers[l].forward_flops_per_step() * steps)
                }
                Step::Merge(_) => None,
            })
            .sum()
    }

    /// A Keras-style table: node, type, output shape, parameters and (for graphs) the nodes
    /// feeding it, so the wiring reads off the text.
    pub fn summary(&self) -> String {
        let plan = &self.plan;
        let graph = !self.config.nodes.is_empty();
        // Frames' shapes are longer than vectors'; the column widens to the longest.
        let shapes = plan
            .inputs
            .iter()
            .map(|(_, s)| *s)
            .chain(plan.nodes.iter().map(|n| n.shape));
        let sw = shapes.map(|s| describe(s).chars().count()).max().unwrap_or(0).max(18);
        let mut out = format!("{:<18} {:<24} {:<sw$} {:>9}", "node", "layer", "output shape", "params");
        if graph {
            out.push_str("  inputs");
        }
        out.push('\n');
        let rule = "-".repeat(if graph { 92 } else { 72 } + sw - 18);
        out.push_str(&rule);
        out.push('\n');
        for (name, shape) in &plan.inputs {
            out.push_str(&format!(
                "{name:<18} {:<24} {:<sw$} {:>9}\n",
                "input",
                describe(*shape),
                0
            ));
        }
        let mut counted = vec![false; self.layers.len()];
        for node in &plan.nodes {
            let (kind, n) = self.summary_kind_and_params(node, &mut counted);
            out.push_str(&format!(
                "{:<18} {kind:<24} {:<sw$} {n:>9}",
                node.name,
                describe(node.shape)
            ));
            if graph {
                let names: Vec<&str> = node
                    .sources
                    .iter()
                    .map(|s| match *s {
                        Source::Input(i) => plan.inputs[i].0.as_str(),
                        Source::Node(m) => plan.nodes[m].name.as_str(),
                    })
                    .collect();
                out.push_str(&format!("  ← {}", names.join(", ")));
            }
            out.push('\n');
        }
        out.push_str(&rule);
        if graph {
            let outs: Vec<&str> = plan.outputs.iter().map(|&o| plan.nodes[o].name.as_str()).collect();
            out.push_str(&format!("\noutputs: {}", outs.join(", ")));
        }
        let all: usize = self.named_params().iter().map(|(_, p)| p.len()).sum();
        out.push_str(&format!(
            "\ntrainable parameters: {}\nnon-trainable (buffers): {}\n",
            self.trainable_count(),
            all - self.trainable_count()
        ));
        out
    }
    /// A summary row's layer column and trainable parameters: a layer shared by several nodes
    /// is named after its first (`lstm = encoder`) and its parameters counted there alone.
    fn summary_kind_and_params(&self, node: &PlannedNode, counted: &mut [bool]) -> (String, usize) {
        match node.step {
            Step::Layer(l) => {
                let layer = &self.plan.layers[l];
                let mut kind = layer.config.summary_kind();
                if layer.prefix != node.name {
                    kind = format!("{kind} = {}", layer.prefix);
                }
                let first = !std::mem::replace(&mut counted[l], true);
                let params = self.layers[l].params();
                let n: usize = params.iter().filter(|p| p.trainable).map(|p| p.len()).sum();
                (kind, if first { n } else { 0 })
            }
            Step::Merge(_) => (node.kind.clone(), 0),
        }
    }
}

/// Adds `g` into a gradient slot (a value used by several nodes gets the sum).
fn accumulate<T: Float>(slot: &mut Option<Seq<T>>, g: Seq<T>) {
    match slot {
        None => *slot = Some(g),
        Some(acc) => acc.data.iter_mut().zip(&g.data).for_each(|(a, &b)| *a += b),
    }
}
