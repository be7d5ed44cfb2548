// name: text_roots
// description: For root GraphNode ids (text search candidates), the neuron each belongs to (with what the search filters on) and the root's complete patterns (JSON: `ingest.graph_facts.root_facts`).
// param roots: LIST<INT>  root GraphNode ids (ACTIVATES_ON.root)
// note: read by key, a hundred times faster on LadybugDB than reading the same text along the edges; text search
// note: applies the filters itself and keeps what it read for the next search (a root's facts never change).
UNWIND $roots AS r
MATCH (g:GraphNode {id: r})
MATCH (n:Neuron {id: g.neuron_id})
RETURN g.id AS root, n.id AS id, n.model AS model, n.layer AS layer, n.sign AS sign, n.f1 AS f1, g.patterns AS patterns
