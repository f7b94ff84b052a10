// Replaced by the agent and transports.
namespace kp::remote {}
