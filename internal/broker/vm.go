package broker

// VMPID is the PID of a private node's Erlang VM (beam.smp: the rabbitmq-server script and erl
// exec into it, so it is the process proc started), which a fault can freeze with SIGSTOP; 0
// for an existing broker, whose VM is not this process's to signal.
func (b *Broker) VMPID() int {
	if b.node == nil || b.node.beam == nil {
		return 0
	}
	return b.node.beam.PID
}
