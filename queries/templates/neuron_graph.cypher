// name: neuron_graph
// description: One neuron's graph as rows, walked from its roots: each node with its parent (the token after it; none for a root).
// param id: STRING  the neuron's id (model:layer:neuron)
MATCH (n:Neuron {id: $id})-[:HAS_ROOT]->(r:GraphNode)-[:PRECEDED_BY*0..256]->(g:GraphNode)
OPTIONAL MATCH (p:GraphNode)-[:PRECEDED_BY]->(g)
RETURN g.id AS node, p.id AS parent, r.key AS root, g.kind AS kind, g.token AS token, g.key AS key,
       g.depth AS depth, g.count AS count, g.max_activation AS max_activation, g.importance AS importance,
       g.end_activation AS end_activation
ORDER BY root, g.depth, g.id
