// name: activation_samples
// description: The activation samples of the given neurons (`n2g.graphs.activation_sample`: their real activations on a shared stretch of text), for correlating neurons.
// param ids: LIST<STRING>  neuron ids (model:layer:neuron)
UNWIND $ids AS nid
MATCH (n:Neuron {id: nid})
RETURN n.id AS id, n.activation_sample AS sample
