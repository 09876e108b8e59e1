//! THE registry: every receiver, processor, exporter and extension factory Strata ships, one line each.
//! Adding a component = one directory in its crate, one `mod` line, one line here.

use strata_pipelines::Factories;
use strata_pipelines::factory::{Alias, DuplicateType};

/// All factories. A type registered twice is an error at startup.
///
/// # Errors
/// [`DuplicateType`] when two factories share a type name.
pub fn factories() -> Result<Factories, DuplicateType> {
    Factories::default()
        // Receivers
        .receiver(strata_receivers::otlp::Factory)?
        .receiver(strata_receivers::hostmetrics::Factory)?
        .receiver(Alias {
            name: "host_metrics",
            factory: strata_receivers::hostmetrics::Factory,
        })?
        .receiver(strata_receivers::libvirt::Factory)?
        .receiver(strata_receivers::spdk::Factory)?
        .receiver(strata_receivers::spdk_trace::Factory)?
        .receiver(strata_receivers::redfish::Factory)?
        .receiver(strata_receivers::zipkin::Factory)?
        // Processors
        .processor(strata_processors::attributes::Factory)?
        .processor(strata_processors::batch::Factory)?
        .processor(strata_processors::filter::Factory)?
        .processor(strata_processors::memory_limiter::Factory)?
        .processor(strata_processors::resource::Factory)?
        .processor(strata_processors::resourcedetection::Factory)?
        .processor(Alias {
            name: "resource_detection",
            factory: strata_processors::resourcedetection::Factory,
        })?
        .processor(strata_processors::redaction::Factory)?
        // Exporters
        .exporter(strata_exporters::otlp::Factory::default())?
        .exporter(strata_exporters::otlp::Factory::alias())?
        .exporter(strata_exporters::otlp_http::Factory::default())?
        .exporter(strata_exporters::otlp_http::Factory::alias())?
        .exporter(strata_exporters::debug::Factory)?
        .exporter(strata_exporters::debug::logging::Factory)?
        .exporter(strata_exporters::file::Factory)?
        .exporter(strata_exporters::zipkin::Factory)?
        .exporter(strata_exporters::prometheus::Factory)?
        .exporter(strata_exporters::loadbalancing::Factory::default())?
        .exporter(strata_exporters::loadbalancing::Factory::alias())?
        // Extensions
        .extension(strata_extensions::basicauth::Factory)?
        .extension(strata_extensions::bearertokenauth::Factory)?
        .extension(strata_extensions::file_storage::Factory)?
        .extension(strata_extensions::headers_setter::Factory)?
        .extension(strata_extensions::health_check::Factory)?
        .extension(strata_extensions::pprof::Factory)?
        .extension(strata_extensions::zpages::Factory)
}
