// A model's graph with its input size freed, for tasks that tap inner layers
// (style, dream, locate's gradients) at any image size. The classifier head
// stays in the graph but never runs unless a tap needs it: a Program computes
// only the ancestors of its taps.
import { Graph } from '../graph';
import { LoadedModel } from '../../models/types';

/** The model's graph with its input size freed, for tapping inner layers at any image size. */
export function featureGraph(model: LoadedModel): Graph {
  return Graph.fromNodes(
    model.graph.nodes().map((d) => (d.kind === 'input' && d.name === model.input ? { ...d, shape: [-1, -1, -1, 3] } : d)),
  );
}

/** The model's op nodes that a task may tap (Keras layer names such as 'block4_conv1'). */
export function tapNames(model: LoadedModel): string[] {
  return model.graph.nodes().filter((d) => d.kind === 'op').map((d) => d.name);
}
