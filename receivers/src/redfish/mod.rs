//! `redfish` receiver: temperatures, fans, power, voltages and health from BMCs (host BMCs and
//! DPU/SmartNIC BMCs) over DMTF Redfish (DSP0266), as OpenTelemetry hardware (`hw.*`) metrics.
//!
//! ```yaml
//! receivers:
//!   redfish:
//!     endpoint: https://bmc.example:443
//!     username: ${env:BMC_USER}
//!     password: ${file:/run/secrets/bmc-password}
//!     auth: session                 # or basic, none; default session when a username is set
//!     tls: { ca_file: /etc/strata/bmc-ca.pem }   # or insecure_skip_verify: true
//!     # computer_system_id: [437XR1138R2]        # only these systems; chassis_id: [1U]
//!     collection_interval: 60s
//!     timeout: 10s                  # per request
//!     max_concurrency: 4            # requests in flight per BMC
//!     resources: [thermal, power, sensors, environment, status]
//!     telemetry_service:            # MetricReports as a second source; off by default
//!       enabled: true
//!       reports: [PowerMetricStats] # report Ids; default all
//!     servers:                      # more BMCs, each with the fields above it may override
//!       - endpoint: https://dpu0-bmc:443
//!         username: ${env:BMC_USER}
//!         password: ${env:BMC_PASSWORD}
//! ```
//!
//! **Discovery.** Each interval starts at the service root (`/redfish/v1`) and follows
//! `@odata.id` links only — `Systems`, `Chassis`, `Managers`, and per chassis `Thermal`,
//! `Power`, `ThermalSubsystem` (`Fans`, `ThermalMetrics`), `PowerSubsystem` (`PowerSupplies`
//! and their `Metrics`), `EnvironmentMetrics` and `Sensors` — whichever the BMC has. Ids and
//! paths are never assumed. Collections are read with `$expand=.($levels=1)` when the root
//! advertises `ProtocolFeaturesSupported.ExpandQuery.Levels`; when the query is refused, or
//! ignored (members come back as bare links), members are read one by one. Independent
//! resources are fetched concurrently, at most `max_concurrency` at a time per BMC.
//!
//! **No double counting.** The same sensor is often visible several times: as a `Sensor`, as
//! an excerpt in `EnvironmentMetrics`, `ThermalMetrics`, a `Fan` or `PowerSupplyMetrics`
//! (linked by `DataSourceUri`), and in the legacy `Thermal`/`Power` arrays. `hw.id` is the
//! sensor's identity (its `Sensor` URI, else the URI of the property holding the reading), and
//! each metric is recorded once per `hw.id`; a legacy entry that is the same sensor as a
//! current reading (same quantity and `PhysicalContext`, a shared `RelatedItem` where both list
//! one, and exactly one candidate) is skipped. The exact rules are in [`metrics`].
//!
//! **Attributes.** Every point has `hw.id`, `hw.name`, `hw.type` (`temperature`, `voltage`,
//! `fan`, `power_supply`, `cpu`, `enclosure`, … from the kind of reading and its
//! `PhysicalContext`; `host` for a ComputerSystem), `hw.parent` (the chassis, fan or power
//! supply URI). Readings add `hw.sensor_location` (`PhysicalContext`), limits `hw.limit_type`,
//! `hw.status` `hw.state`. The resource of each chassis carries `redfish.endpoint`,
//! `redfish.service.uuid`, `redfish.chassis.{id,type,manufacturer,model,serial_number,
//! part_number}`, the system it links (`redfish.system.{id,manufacturer,model,serial_number,
//! bios_version}`, `host.name`) and its manager (`redfish.manager.{id,model,
//! firmware_version}`). Readings that are `null` or absent, and members whose `Status.State` is
//! `Absent`, produce no point (never a 0). Fatal thresholds and `Percent` sensors that no fan
//! links (battery health, humidity) are not exported.
//!
//! **Authentication.** `basic` sends the credentials with every request. `session` creates a
//! session at the root's `Links.Sessions` (`POST {"UserName","Password"}`), sends its
//! `X-Auth-Token`, logs in again once when a request gets 401 (the session expired or the BMC
//! restarted), and deletes the session (`DELETE` its `Location`) at shutdown. A refused login
//! is one error per scrape naming the URL: `login failed: HTTP 401 (wrong username or
//! password?)`.
//!
//! **Resilience.** A 401/403/404/500, a body that is not JSON, a timeout or a connection error
//! on one resource is logged with the URL and the cause, counted in
//! `otelcol_scraper_errored_metric_points` and
//! `strata_receiver_redfish_errors{receiver,server,cause}` (`http_<status>`,
//! `invalid_response`, `timeout`, `transport`, `login`), and the rest of the scrape goes on;
//! the next interval tries again. When the service root cannot be read the scrape ends there
//! with one error.
//!
//! Metrics (OpenTelemetry hardware semantic conventions; `redfish.current` and
//! `redfish.frequency` have no convention yet):
//!
//! | metric | unit | type | attributes | Redfish source |
//! |---|---|---|---|---|
//! | `hw.temperature` | `Cel` | gauge (double) | `hw.id`, `hw.name`, `hw.type`, `hw.parent`, `hw.sensor_location` | Sensor `Reading` (ReadingType `Temperature` / units `Cel`); Thermal `Temperatures[].ReadingCelsius`; EnvironmentMetrics `TemperatureCelsius`; ThermalMetrics `TemperatureReadingsCelsius[]`; PowerSupplyMetrics `TemperatureCelsius` |
//! | `hw.temperature.limit` | `Cel` | gauge (double) | `hw.id`, `hw.name`, `hw.type`, `hw.parent`, `hw.limit_type` | Sensor `Thresholds` `LowerCaution`/`UpperCaution` (low/high.degraded), `LowerCritical`/`UpperCritical` (low/high.critical); Thermal `Lower/UpperThresholdNonCritical`, `…Critical` |
//! | `hw.fan.speed` | `rpm` | gauge (double) | `hw.id`, `hw.name`, `hw.type`, `hw.parent`, `hw.sensor_location` | Sensor `Reading` (ReadingType `Rotational` / units `RPM`); Fan `SpeedPercent.SpeedRPM`; Thermal `Fans[].Reading` (`ReadingUnits` `RPM`); EnvironmentMetrics `FanSpeedsPercent[].SpeedRPM`; PowerSupplyMetrics `FanSpeedPercent.SpeedRPM` |
//! | `hw.fan.speed.limit` | `rpm` | gauge (double) | `hw.id`, `hw.name`, `hw.type`, `hw.parent`, `hw.limit_type` | Thermal `Fans[]` `Lower/UpperThresholdNonCritical`, `…Critical` (`ReadingUnits` `RPM`); Sensor `Thresholds` of an RPM sensor |
//! | `hw.fan.speed_ratio` | `1` | gauge (double) | `hw.id`, `hw.name`, `hw.type`, `hw.parent`, `hw.sensor_location` | Fan `SpeedPercent.Reading` ÷ 100 (and the `Percent` Sensor it links); Thermal `Fans[].Reading` (`ReadingUnits` `Percent`); EnvironmentMetrics `FanSpeedsPercent[].Reading`; PowerSupplyMetrics `FanSpeedPercent.Reading` |
//! | `hw.voltage` | `V` | gauge (double) | `hw.id`, `hw.name`, `hw.type`, `hw.parent`, `hw.sensor_location` | Sensor `Reading` (ReadingType `Voltage`); Power `Voltages[].ReadingVolts`, `PowerSupplies[].LineInputVoltage`; PowerSupplyMetrics `InputVoltage`, `RailVoltage[]` |
//! | `hw.voltage.limit` | `V` | gauge (double) | `hw.id`, `hw.name`, `hw.type`, `hw.parent`, `hw.limit_type` | Sensor `Thresholds` (as for temperature); Power `Voltages[]` `Lower/UpperThresholdNonCritical`, `…Critical` |
//! | `hw.power` | `W` | gauge (double) | `hw.id`, `hw.name`, `hw.type`, `hw.parent`, `hw.sensor_location` | Sensor `Reading` (ReadingType `Power`); Power `PowerControl[].PowerConsumedWatts`, `PowerSupplies[].LastPowerOutputWatts`; EnvironmentMetrics `PowerWatts`; PowerSupplyMetrics `InputPowerWatts`, `OutputPowerWatts`, `RailPowerWatts[]` |
//! | `hw.energy` | `J` | counter (double) | `hw.id`, `hw.name`, `hw.type`, `hw.parent`, `hw.sensor_location` | Sensor `Reading` (ReadingType `EnergykWh` × 3.6·10⁶, `EnergyWh` × 3600, `EnergyJoules`); EnvironmentMetrics `EnergykWh`, `EnergyJoules`; PowerSupplyMetrics `EnergykWh` |
//! | `hw.power_supply.limit` | `W` | gauge (double) | `hw.id`, `hw.name`, `hw.type`, `hw.parent`, `hw.limit_type` | PowerSupply `PowerCapacityWatts`; Power `PowerSupplies[].PowerCapacityWatts` (`hw.limit_type` `max`) |
//! | `redfish.current` | `A` | gauge (double) | `hw.id`, `hw.name`, `hw.type`, `hw.parent`, `hw.sensor_location` | Sensor `Reading` (ReadingType `Current`); PowerSupplyMetrics `InputCurrentAmps`, `RailCurrentAmps[]` (no semantic convention yet) |
//! | `redfish.frequency` | `Hz` | gauge (double) | `hw.id`, `hw.name`, `hw.type`, `hw.parent`, `hw.sensor_location` | Sensor `Reading` (ReadingType `Frequency`); PowerSupplyMetrics `FrequencyHz` (no semantic convention yet) |
//! | `redfish.sensor.ratio` | `1` | gauge (double) | `hw.id`, `hw.name`, `hw.type`, `hw.parent`, `hw.sensor_location` | Sensor `Reading` (ReadingType `Percent`) of a sensor no fan links (battery state of health, utilisation), divided by 100 (no semantic convention yet) |
//! | `hw.status` | `1` | updowncounter (int) | `hw.id`, `hw.name`, `hw.type`, `hw.parent`, `hw.state` | `Status.Health` of systems, chassis, sensors, fans, power supplies (`OK`→`ok`, `Warning`→`degraded`, `Critical`→`failed`: one point per state, 1 for the current); `PowerState` of systems and chassis (`on`, `off`, `powering_on`, `powering_off`, `paused`) |
//!
//! **DPUs and SmartNICs.** A card chassis (`ChassisType` `Card`) that carries a computer
//! system (the SoC; `SystemType` `DPU` where the service has it) is a DPU: every resource of
//! its BMC gets `dpu.vendor`, `dpu.model`, `dpu.serial_number`, `dpu.part_number` and
//! `dpu.chassis.id` from the card chassis (on a service with several cards, the card's own
//! chassis, what it contains and its systems), and `dpu.host.{chassis.id,manufacturer,model,
//! serial_number}` from the chassis its `Links.ContainedBy` names, or else from the chassis
//! one of whose `PCIeDevices` links the card (`Links.Chassis`; read only when a card has no
//! `ContainedBy`). Rules in [`dpu`].
//!
//! **Events → logs** (`events:`; the receiver must also be in a logs pipeline):
//!
//! ```yaml
//!     events:
//!       mode: push                  # or sse
//!       listen: 0.0.0.0:9443        # push: where BMCs POST events
//!       destination: https://collector.example:9443/redfish/events   # push: what BMCs are told
//!       tls: { cert_file: /etc/strata/tls.crt, key_file: /etc/strata/tls.key }
//!       context: strata-dpu-fleet   # default "strata <receiver id> <host name>"
//!       event_types: [Alert]        # push: default every EventTypesForSubscription entry
//!       check_interval: 60s         # push: subscription checked, re-created when gone
//!       dedup_window: 10m           # replays of an EventId dropped within it
//! ```
//!
//! push keeps exactly one `EventDestination` of its own per BMC (`Protocol: Redfish`, its
//! `Context`, `Destination` and `EventTypes`; a BMC that refuses `EventTypes` is asked again
//! without it), re-creates it when the BMC lost it, deletes it at shutdown,
//! and never modifies or deletes any other subscription. sse reads
//! `EventService.ServerSentEventUri`, resuming with `Last-Event-ID`. Each event record becomes
//! a log record (severity from `MessageSeverity`, body `Message`, `redfish.message_id`,
//! `redfish.origin`, `redfish.event_id`, `redfish.message_args`) on the resource of the
//! chassis its origin is under. Counted in `strata_receiver_redfish_events{receiver,server,
//! outcome}` (`received`, `duplicate`, `invalid`, `subscribed`, `reconnect`). Details in
//! [`events`].
//!
//! **TelemetryService metric reports** (`telemetry_service: {enabled: true}`): each scrape
//! also reads `TelemetryService/MetricReports` (all, or the `reports` listed by `Id`), and each
//! `MetricValues` entry becomes a gauge point `redfish.report.<MetricId or the last segment of
//! MetricProperty, snake case>` at the entry's own `Timestamp`, with `redfish.report.id`,
//! `redfish.metric.property` and `redfish.metric.id`; the unit comes from the name's suffix
//! (`Watts` → `W`, `Celsius` → `Cel`, ...). A sample already exported is not exported again.
//! These points go in a resource of their own (`redfish.source` = `telemetry_service`). Details
//! in [`reports`].
//!
//! The DMTF mockup `public-rackmount1` (in `tests/fixtures/redfish/`) is the reference: every
//! reading in it is exported once, checked value by value in `tests/redfish.rs`.

mod client;
mod config;
pub mod dpu;
mod event_source;
pub mod events;
pub mod metrics;
mod receiver;
pub mod reports;

pub use client::{FetchError, RedfishClient, SERVICE_ROOT};
pub use config::{
    ALL_RESOURCES, Auth, Config, Resource, Server, ServerConfig, TelemetryServiceConfig,
};
pub use receiver::{Factory, RedfishReceiver, RedfishScraper};

/// The type name in configs.
pub const TYPE: &str = "redfish";

#[cfg(test)]
mod tests;
