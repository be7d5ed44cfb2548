// name: root_patterns
// description: The complete patterns of given roots (JSON: `ingest.graph_facts.root_facts`), by their GraphNode ids (ACTIVATES_ON.root): the context each matched token of a result needs.
// param roots: LIST<INT>  root GraphNode ids
UNWIND $roots AS r
MATCH (g:GraphNode {id: r})
RETURN g.id AS root, g.patterns AS patterns
