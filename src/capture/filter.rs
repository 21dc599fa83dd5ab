//! TEMPORARY STUB
use super::LinkType;
pub struct Filter;
impl Filter {
    pub fn compile(_: &str) -> Result<Filter, String> {
        Ok(Filter)
    }
    pub fn matches(&self, _: LinkType, _: &[u8], _: u32) -> bool {
        true
    }
}
