//! Models beyond a stack: named inputs and nodes wired as Keras's functional API wires them,
//! and the [`Plan`] every model (stack or graph) is compiled into before it is built.
//!
//! ```json
//! {"inputs": [{"name": "x", "size": 2}, {"name": "extra", "size": 3, "sequential": false}],
//!  "nodes": [
//!    {"name": "conv", "type": "conv1d", "filters": 8, "kernel_size": 3, "inputs": ["x"]},
//!    {"name": "gate", "type": "conv1d", "filters": 8, "kernel_size": 3, "inputs": ["x"]},
//!    {"name": "wave", "type": "gated_activation", "inputs": ["conv", "gate"]},
//!    {"name": "pool", "type": "global_mean_pool"},
//!    {"name": "both", "type": "concatenate", "inputs": ["pool", "extra"]},
//!    {"name": "head", "type": "dense", "units": 4}],
//!  "outputs": ["head"]}
//! ```
//!
//! A node without `inputs` takes the node before it (or the model's only input). A node with
//! `"share": "other"` applies `other`'s layer, weights included, to its own inputs. Node names
//! become checkpoint prefixes (`blocks.3.conv` → `blocks.3.conv.weight`), so a `torch.nn.Module`
//! with the same attribute names loads the weights with `strict=True`. A stack of `layers`
//! compiles to nodes named `layers.{i}`, exactly the names of a `torch.nn.ModuleList`.

use crate::config::{LayerConfig, ModelConfig, NodeConfig, NodeOp};
use crate::error::{NnError, Result};
use crate::merge::Merge;
use crate::spec::{describe, MAX_WIDTH};
use recur_core::{Frame, Shape};
use std::collections::HashMap;

/// Where a node's input comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The model's input with this index.
    Input(usize),
    /// The planned node with this index (in evaluation order).
    Node(usize),
}

/// What a planned node runs.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// The model's layer with this index (several nodes may share one).
    Layer(usize),
    /// A merge.
    Merge(Merge),
}

/// A node ready to run: its sources resolved, its shapes known.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedNode {
    /// The node's name.
    pub name: String,
    /// The config `type` (for summaries).
    pub kind: String,
    /// What it runs.
    pub step: Step,
    /// Its inputs.
    pub sources: Vec<Source>,
    /// Its input shapes, in the order of `sources`.
    pub input_shapes: Vec<Shape>,
    /// Its output shape.
    pub shape: Shape,
}

/// A layer to build: its config, input shape and checkpoint prefix.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedLayer {
    /// The layer's settings.
    pub config: LayerConfig,
    /// The shape it is built for.
    pub input: Shape,
    /// Its tensors' name prefix (the node name).
    pub prefix: String,
}

/// A model compiled from its config: inputs, nodes in an order where every node comes after
/// its sources, the layers to build, and the outputs.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Input names and shapes.
    pub inputs: Vec<(String, Shape)>,
    /// Nodes in evaluation order.
    pub nodes: Vec<PlannedNode>,
    /// Layers with weights, in config order.
    pub layers: Vec<PlannedLayer>,
    /// The nodes whose values the model returns.
    pub outputs: Vec<usize>,
}

/// The most scalars a model may hold: 1 GB of f32 weights. Training keeps several copies
/// (gradients, optimiser moments, one replica per core), so this is what fits in memory.
pub const MAX_PARAMETERS: u64 = 250_000_000;

impl Plan {
    /// Compiles and checks a config: every name, wire and shape.
    pub fn new(config: &ModelConfig) -> Result<Plan> {
        let stack = config.input_size > 0 || !config.input_shape.is_empty() || !config.layers.is_empty();
        let graph = !config.inputs.is_empty() || !config.nodes.is_empty() || !config.outputs.is_empty();
        match (stack, graph) {
            (true, true) => Err(NnError::Config(
                "give either `input_size` and `layers` (a stack) or `inputs`, `nodes` and `outputs` (a graph), not both"
                    .into(),
            )),
            (false, false) => Err(NnError::Config("a model needs `input_size` and at least one layer".into())),
            (true, false) => Plan::stack(config),
            (false, true) => Plan::graph(config),
        }
    }

    /// Scalars the model's layers hold (weights and buffers), known before anything is built.
    pub fn parameter_count(&self) -> u64 {
        self.layers
            .iter()
            .fold(0u64, |n, l| n.saturating_add(l.config.parameter_count(l.input)))
    }

    /// The shapes of the model's outputs.
    pub fn output_shapes(&self) -> Vec<Shape> {
        self.outputs.iter().map(|&o| self.nodes[o].shape).collect()
    }

    fn stack(config: &ModelConfig) -> Result<Plan> {
        let mut shape = stack_input(config)?;
        if config.layers.is_empty() {
            return Err(NnError::Config("a model needs at least one layer".into()));
        }
        let mut plan = Plan {
            inputs: vec![("input".into(), shape)],
            nodes: Vec::new(),
            layers: Vec::new(),
            outputs: vec![config.layers.len() - 1],
        };
        for (i, layer) in config.layers.iter().enumerate() {
            let out = layer_shape(layer, shape)
                .map_err(|e| NnError::Config(format!("layers[{i}] ({}): {e}", layer.kind())))?;
            let source = if i == 0 { Source::Input(0) } else { Source::Node(i - 1) };
            plan.push_layer(format!("layers.{i}"), layer, source, shape, out);
            shape = out;
        }
        plan.check_size()?;
        Ok(plan)
    }

    /// Refuses a model too large to hold, before any of it is allocated.
    fn check_size(&self) -> Result<()> {
        let n = self.parameter_count();
        if n > MAX_PARAMETERS {
            return Err(NnError::Config(format!(
                "the model would hold {n} parameters ({:.1} GB as f32); recur builds models of up to {MAX_PARAMETERS}",
                n as f64 * 4e-9
            )));
        }
        Ok(())
    }

    fn push_layer(&mut self, name: String, layer: &LayerConfig, source: Source, input: Shape, shape: Shape) {
        self.nodes.push(PlannedNode {
            name: name.clone(),
            kind: layer.kind().into(),
            step: Step::Layer(self.layers.len()),
            sources: vec![source],
            input_shapes: vec![input],
            shape,
        });
        self.layers.push(PlannedLayer {
            config: layer.clone(),
            input,
            prefix: name,
        });
    }

    fn graph(config: &ModelConfig) -> Result<Plan> {
        let err = |m: String| NnError::Config(m);
        if config.inputs.is_empty() {
            return Err(err("a graph needs at least one entry in `inputs`".into()));
        }
        if config.nodes.is_empty() {
            return Err(err("a graph needs at least one node".into()));
        }
        let (mut names, config_index) = graph_names(config)?;
        let wires = graph_wires(config, &names, &config_index)?;
        let order = topological_order(config, &wires, &config_index)?;
        let mut plan = Plan {
            inputs: config
                .inputs
                .iter()
                .map(|i| (i.name.clone(), Shape::new(i.size, i.sequential)))
                .collect(),
            nodes: Vec::new(),
            layers: Vec::new(),
            outputs: Vec::new(),
        };
        let mut planned = vec![None; config.nodes.len()];
        for &c in &order {
            let node = &config.nodes[c];
            let sources: Vec<Source> = wires[c].iter().map(|s| names[s]).collect();
            let input_shapes: Vec<Shape> = sources.iter().map(|&s| plan.shape_of(s)).collect();
            let (step, kind, shape) = plan.node_step(config, &config_index, &planned, node, &input_shapes)?;
            names.insert(&node.name, Source::Node(plan.nodes.len()));
            planned[c] = Some(plan.nodes.len());
            plan.nodes.push(PlannedNode {
                name: node.name.clone(),
                kind,
                step,
                sources,
                input_shapes,
                shape,
            });
        }
        let planned: Vec<usize> = planned.into_iter().map(|p| p.expect("every node is planned")).collect();
        plan.number_layers(config, &planned);
        let outputs: Vec<&str> = if config.outputs.is_empty() {
            vec![config.nodes[config.nodes.len() - 1].name.as_str()]
        } else {
            config.outputs.iter().map(String::as_str).collect()
        };
        for name in outputs {
            match config_index.get(name) {
                Some(&c) => plan.outputs.push(planned[c]),
                None => return Err(err(format!("output `{name}` is not a node"))),
            }
        }
        plan.check_size()?;
        Ok(plan)
    }

    /// What a graph node does given its inputs' shapes: its step (layers numbered later), its
    /// kind and its output shape.
    fn node_step(
        &self,
        config: &ModelConfig,
        config_index: &HashMap<&str, usize>,
        planned: &[Option<usize>],
        node: &NodeConfig,
        input_shapes: &[Shape],
    ) -> Result<(Step, String, Shape)> {
        let at = |e: String| NnError::Config(format!("node `{}`: {e}", node.name));
        Ok(match &node.op {
            NodeOp::Merge(m) => (
                Step::Merge(*m),
                m.kind().to_string(),
                m.output_shape(input_shapes).map_err(at)?,
            ),
            NodeOp::Layer(layer) => {
                let [input] = input_shapes[..] else {
                    return Err(at(format!(
                        "a {} layer takes one input, it was given {}",
                        layer.kind(),
                        input_shapes.len()
                    )));
                };
                let shape = layer_shape(layer, input).map_err(|e| at(format!("({}) {e}", layer.kind())))?;
                (Step::Layer(usize::MAX), layer.kind().to_string(), shape)
            }
            NodeOp::Share(other) => {
                let Some(&o) = config_index.get(other.as_str()) else {
                    return Err(at(format!("shares `{other}`, which is not a node")));
                };
                let NodeOp::Layer(layer) = &config.nodes[o].op else {
                    return Err(at(format!("shares `{other}`, which has no layer of its own")));
                };
                let theirs = plan_input_shape(self, planned, o);
                if input_shapes.len() != 1 || Some(input_shapes[0]) != theirs {
                    return Err(at(format!(
                        "shares `{other}`'s layer, so it needs the same input shape ({})",
                        theirs.map_or("not known yet".into(), describe)
                    )));
                }
                let shape = layer_shape(layer, input_shapes[0]).map_err(at)?;
                (Step::Layer(usize::MAX), layer.kind().to_string(), shape)
            }
        })
    }

    /// Numbers the layers in config order (so checkpoint tensors keep the config's order) and
    /// points each layer node, and each node sharing a layer, at its layer; `planned[c]` is the
    /// planned node of config node `c`.
    fn number_layers(&mut self, config: &ModelConfig, planned: &[usize]) {
        let mut layer_of_node: HashMap<&str, usize> = HashMap::new();
        for (c, node) in config.nodes.iter().enumerate() {
            if let NodeOp::Layer(layer) = &node.op {
                layer_of_node.insert(&node.name, self.layers.len());
                self.layers.push(PlannedLayer {
                    config: layer.clone(),
                    input: self.nodes[planned[c]].input_shapes[0],
                    prefix: node.name.clone(),
                });
            }
        }
        for (c, node) in config.nodes.iter().enumerate() {
            let owner = match &node.op {
                NodeOp::Layer(_) => &node.name,
                NodeOp::Share(other) => other,
                NodeOp::Merge(_) => continue,
            };
            self.nodes[planned[c]].step = Step::Layer(layer_of_node[owner.as_str()]);
        }
    }

    fn shape_of(&self, source: Source) -> Shape {
        match source {
            Source::Input(i) => self.inputs[i].1,
            Source::Node(n) => self.nodes[n].shape,
        }
    }
}

/// The input shape of config node `o` if it is planned already.
fn plan_input_shape(plan: &Plan, planned: &[Option<usize>], o: usize) -> Option<Shape> {
    planned[o].map(|p| plan.nodes[p].input_shapes[0])
}

/// A layer's output shape, with widths bounded so that no size computed from them overflows.
fn layer_shape(layer: &LayerConfig, input: Shape) -> std::result::Result<Shape, String> {
    let out = layer.output_shape(input)?;
    if out.features > MAX_WIDTH {
        return Err(format!(
            "{} features is more than recur allows ({MAX_WIDTH})",
            out.features
        ));
    }
    Ok(out)
}

/// A stack's input: `input_size` features per step, or `input_shape` (`[features]`, or frames
/// `[height, width, channels]`).
fn stack_input(config: &ModelConfig) -> Result<Shape> {
    let err = |m: String| Err(NnError::Config(m));
    match (config.input_size, config.input_shape.as_slice()) {
        (0, []) => err("input_size must be at least 1".into()),
        (n, []) => check_width("input_size", n).map(|_| Shape::sequence(n)),
        (0, dims) if dims.contains(&0) => err(format!("input_shape {dims:?} has a zero size")),
        (0, &[n]) => check_width("input_shape", n).map(|_| Shape::sequence(n)),
        (0, &[height, width, channels]) => {
            for (name, v) in [("height", height), ("width", width), ("channels", channels)] {
                check_width(&format!("input_shape: {name}"), v)?;
            }
            let frame = Frame {
                height,
                width,
                channels,
            };
            check_width(
                "input_shape: values per frame",
                height.saturating_mul(width).saturating_mul(channels),
            )?;
            Ok(Shape::frames(frame, true))
        }
        (0, dims) => err(format!(
            "input_shape must be [features] or [height, width, channels], not {dims:?}"
        )),
        _ => err("give `input_size` or `input_shape`, not both".into()),
    }
}

fn check_width(what: &str, width: usize) -> Result<()> {
    if width > MAX_WIDTH {
        return Err(NnError::Config(format!(
            "{what} {width} is more than recur allows ({MAX_WIDTH})"
        )));
    }
    Ok(())
}

/// Names are dotted paths of letters, digits and underscores, as PyTorch module paths are.
fn check_name(name: &str) -> std::result::Result<(), String> {
    let ok = !name.is_empty()
        && name
            .split('.')
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    if ok {
        Ok(())
    } else {
        Err("names are dotted paths of letters, digits and `_` (like `blocks.0.conv`)".into())
    }
}

/// A graph's sources by name (inputs, then nodes as they are planned).
type SourceNames<'a> = HashMap<&'a str, Source>;

/// Every input's and node's name, checked (valid, used once): the sources by name, and each
/// node's index in the config.
fn graph_names(config: &ModelConfig) -> Result<(SourceNames<'_>, HashMap<&str, usize>)> {
    let err = |m: String| NnError::Config(m);
    let mut names: HashMap<&str, Source> = HashMap::new();
    for (i, input) in config.inputs.iter().enumerate() {
        check_name(&input.name).map_err(|e| err(format!("input `{}`: {e}", input.name)))?;
        check_width(&format!("input `{}`: size", input.name), input.size)?;
        if input.size == 0 {
            return Err(err(format!("input `{}`: size must be at least 1", input.name)));
        }
        if names.insert(&input.name, Source::Input(i)).is_some() {
            return Err(err(format!("the name `{}` is used twice", input.name)));
        }
    }
    let mut config_index: HashMap<&str, usize> = HashMap::new();
    for (i, node) in config.nodes.iter().enumerate() {
        check_name(&node.name).map_err(|e| err(format!("node `{}`: {e}", node.name)))?;
        if names.contains_key(node.name.as_str()) || config_index.insert(&node.name, i).is_some() {
            return Err(err(format!("the name `{}` is used twice", node.name)));
        }
    }
    Ok((names, config_index))
}

/// Each node's sources by name (a node without inputs takes the one before it), each checked
/// to be an input or a node.
fn graph_wires<'a>(
    config: &'a ModelConfig,
    names: &HashMap<&str, Source>,
    config_index: &HashMap<&str, usize>,
) -> Result<Vec<Vec<&'a str>>> {
    let err = |m: String| NnError::Config(m);
    let wires: Vec<Vec<&str>> = config
        .nodes
        .iter()
        .enumerate()
        .map(|(i, node)| match (node.inputs.is_empty(), i) {
            (false, _) => Ok(node.inputs.iter().map(String::as_str).collect()),
            (true, 0) if config.inputs.len() == 1 => Ok(vec![config.inputs[0].name.as_str()]),
            (true, 0) => Err(err(format!(
                "node `{}` must name its `inputs`: the model has several",
                node.name
            ))),
            (true, _) => Ok(vec![config.nodes[i - 1].name.as_str()]),
        })
        .collect::<Result<_>>()?;
    for (node, wire) in config.nodes.iter().zip(&wires) {
        for &source in wire {
            if !names.contains_key(source) && !config_index.contains_key(source) {
                return Err(err(format!(
                    "node `{}` takes `{source}`, which is neither an input nor a node",
                    node.name
                )));
            }
        }
    }
    Ok(wires)
}

/// Config node indices in an order where each comes after its sources (Kahn's algorithm,
/// ties broken by config order); a cycle is named.
fn topological_order(config: &ModelConfig, wires: &[Vec<&str>], index: &HashMap<&str, usize>) -> Result<Vec<usize>> {
    let n = config.nodes.len();
    let mut waiting: Vec<usize> = vec![0; n];
    let mut consumers: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (c, wire) in wires.iter().enumerate() {
        let mut deps: Vec<usize> = wire.iter().filter_map(|s| index.get(s).copied()).collect();
        // A node that shares another's layer needs that node's input shape first.
        if let NodeOp::Share(other) = &config.nodes[c].op {
            deps.extend(index.get(other.as_str()).copied());
        }
        deps.sort_unstable();
        deps.dedup();
        waiting[c] = deps.len();
        for d in deps {
            consumers[d].push(c);
        }
    }
    let mut ready: std::collections::BTreeSet<usize> = (0..n).filter(|&c| waiting[c] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(c) = ready.pop_first() {
        order.push(c);
        for &next in &consumers[c] {
            waiting[next] -= 1;
            if waiting[next] == 0 {
                ready.insert(next);
            }
        }
    }
    if order.len() < n {
        let stuck: Vec<&str> = (0..n)
            .filter(|&c| waiting[c] > 0)
            .map(|c| config.nodes[c].name.as_str())
            .collect();
        return Err(NnError::Config(format!(
            "the graph has a cycle through {}",
            stuck.join(", ")
        )));
    }
    Ok(order)
}

// Checking a config is planning it, so these live beside the planner.
impl ModelConfig {
    /// Parses a config from JSON text, naming what is wrong.
    pub fn from_json(text: &str) -> Result<Self> {
        let config: ModelConfig = serde_json::from_str(text).map_err(|e| NnError::Config(e.to_string()))?;
        Plan::new(&config)?;
        Ok(config)
    }

    /// The shape of the model's only input, checking the whole config.
    pub fn input_shape(&self) -> Result<Shape> {
        match Plan::new(self)?.inputs.as_slice() {
            [(_, one)] => Ok(*one),
            many => Err(NnError::Config(format!(
                "the model has {} inputs where one is needed",
                many.len()
            ))),
        }
    }

    /// The shape of the model's only output, checking the whole config.
    pub fn output_shape(&self) -> Result<Shape> {
        let plan = Plan::new(self)?;
        match plan.output_shapes().as_slice() {
            [one] => Ok(*one),
            many => Err(NnError::Config(format!(
                "the model has {} outputs where one is needed",
                many.len()
            ))),
        }
    }
}

#[cfg(test)]
mod tests;
