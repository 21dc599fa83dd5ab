//! justniffer's rule (SPEC §4), the `turns` mode and the fallback of `messages` mode:
//! an exchange is a run of client data followed by a run of server data, whatever the
//! protocol. Client data after server data finishes the exchange and begins the next.

use super::analyzer::{Analyzer, Exchanges, Handoff};
use crate::flow::Direction;
use crate::time::Timestamp;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Phase {
    #[default]
    Idle,
    Request,
    Response,
}

/// The turns rule's state: which direction spoke last.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Turns {
    phase: Phase,
}

impl Analyzer for Turns {
    fn data(
        &mut self,
        x: &mut Exchanges<'_>,
        dir: Direction,
        ts: Timestamp,
        bytes: &[u8],
    ) -> Handoff {
        match dir {
            Direction::FromClient => {
                if self.phase == Phase::Response {
                    x.finish_response(false);
                }
                if self.phase != Phase::Request {
                    self.phase = Phase::Request;
                    x.begin_request();
                }
                x.request_data(ts, bytes);
            }
            Direction::FromServer => {
                self.phase = Phase::Response;
                x.response_data(ts, bytes);
            }
        }
        Handoff::Stay
    }
}
