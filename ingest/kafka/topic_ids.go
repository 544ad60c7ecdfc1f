package kafka

import (
	"context"
	"sync"
	"time"

	"github.com/strata-log/strata/metadata"
)

// topicNames maps topic IDs to names for the requests that name topics by ID (Fetch v13+). A
// topic's ID never names another topic, so what it learned stays true; a deleted topic's ID is
// caught where the partition is read (the leader knows the ID of the topic it leads). An unknown
// ID reloads the list of topics, at most once per topicNamesReload.
type topicNames struct {
	mu     sync.Mutex
	byID   map[metadata.TopicID]string
	loaded time.Time
}

// topicNamesReload bounds how often an unknown ID reloads the topic list.
const topicNamesReload = time.Second

// topicName returns the name of the topic with ID id, if there is one.
func (s *Server) topicName(ctx context.Context, id metadata.TopicID) (string, bool) {
	tn := &s.topicIDs
	tn.mu.Lock()
	defer tn.mu.Unlock()
	if name, ok := tn.byID[id]; ok {
		return name, true
	}
	if time.Since(tn.loaded) < topicNamesReload {
		return "", false
	}
	topics, err := s.topics.Topics(ctx)
	if err != nil {
		return "", false
	}
	tn.loaded = time.Now()
	if tn.byID == nil {
		tn.byID = make(map[metadata.TopicID]string, len(topics))
	}
	for _, t := range topics {
		tn.byID[t.ID] = t.Name
	}
	name, ok := tn.byID[id]
	return name, ok
}
