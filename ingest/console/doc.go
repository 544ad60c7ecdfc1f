// Package console is Strata's web console: static pages embedded in the binary (assets/, plain
// HTML, CSS and JavaScript modules, no build step and nothing fetched from elsewhere) and the JSON
// endpoints they read, which serve scripts as well.
//
//	GET    /                                                the console (a single page, hash routes)
//	GET    /console/{file}                                  its assets
//	GET    /v1/cluster                                      nodes, versions, partitions led, health
//	GET    /v1/node                                         this node's id and version (asked of peers)
//	GET    /v1/topics[?q=SUBSTRING]                         topics, ordered by name
//	POST   /v1/topics                                       create: {"name","partitions","configs"}
//	GET    /v1/topics/{topic}                               a topic and its configs, defaults included
//	PATCH  /v1/topics/{topic}/configs                       {"configs":{"name":"value"|null}}: set or reset
//	DELETE /v1/topics/{topic}                               delete
//	GET    /v1/topics/{topic}/partitions                    leader, epoch, tier lines, bytes per tier
//	GET    /v1/topics/{topic}/partitions/{p}/records        records from ?offset=N or ?time=T, ?max=M
//	GET    /v1/groups                                       consumer groups of every live node
//	GET    /v1/groups/{group}                               members, assignments, offsets, lag
//
// The cost page reads GET /v1/cost, served beside this package (tier/cost).
//
// # Errors
//
// Every failure answers a JSON body {"error": "..."}: 400 for bad input (a malformed body or
// parameter, an invalid name or config, Kafka's INVALID_* codes), 404 for an unknown topic, group
// or partition, 409 for a topic that already exists, 401 for a mutation without an authenticated
// principal when Config.RequireAuth is set, 403 for a mutation from another origin, 502 when a
// peer node that holds the answer fails, 503 when a partition has no leader, 500 otherwise.
//
// # One node, the whole cluster
//
// Any node answers for the cluster. What only a partition's leader knows (its hot log, high
// watermark, records) a node reads itself for the partitions it leads and asks the leader's HTTP
// listener for the others, with the request's own credentials and ?local=1, which a node answers
// from its own partitions alone (so a request is forwarded at most once). Consumer group
// membership lives on each group's coordinator and is asked of it the same way. A peer that
// cannot be reached fails only the partitions or groups it holds; each says why.
//
// # Authentication
//
// The console sits behind the same HTTP Basic authentication as every route of the node
// (httpapi.Authenticate, with the SASL users). With Config.RequireAuth, requests that change
// something also need the authenticated principal in their context (httpapi.Principal). They must
// carry a JSON body or no body, and an Origin header, when present, must name the request's own
// host: a page on another site cannot make a browser that holds the user's credentials create or
// delete a topic.
//
// A Server is safe for concurrent use. It owns one goroutine, a watch on the catalogs that keeps
// recent catalog reads fresh, stopped by Close; requests start only goroutines they wait for.
package console
