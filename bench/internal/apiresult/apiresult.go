// Package apiresult is the one JSON line bench/apiload prints per mode
// (-json) and bench/report reads: one type, so the writer and the reader
// cannot drift apart.
package apiresult

// Result is one mode's figures of an apiload run.
type Result struct {
	Mode       string  `json:"mode"`
	Backend    string  `json:"backend"`
	Ops        string  `json:"ops"`
	Clients    int     `json:"clients"`
	Seconds    float64 `json:"seconds"`
	Requests   int     `json:"requests"`
	Errors     int     `json:"errors"`
	RPS        float64 `json:"rps"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	MaxMs      float64 `json:"max_ms"`
	AgentCPUs  float64 `json:"agent_cpu_s"`  // the agent child; -1 in direct mode
	MinIOCPUs  float64 `json:"minio_cpu_s"`  // -1 when apiload had no -minio-pid
	ClientCPUs float64 `json:"client_cpu_s"` // the load generator's own process
	FirstError string  `json:"first_error,omitempty"`
}
