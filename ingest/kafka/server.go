package kafka

// Server is the Kafka protocol listener. Placeholder until server.go lands.
type Server struct{}

type clientConn struct{}
