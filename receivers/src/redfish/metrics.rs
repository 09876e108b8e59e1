//! Redfish resources → `hw.*` data points (OpenTelemetry hardware semantic conventions).
//!
//! [`interpret`] reads the documents fetched for one chassis and records every reading once.
//! The identity of a reading (`hw.id`) is the sensor behind it: the URI of the `Sensor`
//! resource when the reading is one or links one (`DataSourceUri`), else the URI of the
//! property that holds it (`/redfish/v1/Chassis/1U/Thermal#/Temperatures/0`). A reading seen
//! again under the same metric and `hw.id` (a `Sensor` excerpted in `EnvironmentMetrics`,
//! `ThermalMetrics`, a `Fan` or `PowerSupplyMetrics`) is not recorded twice; the first source
//! wins, in the order: `Sensors`, `ThermalSubsystem/Fans`, `PowerSubsystem/PowerSupplies`,
//! the chassis's `EnvironmentMetrics`, the `EnvironmentMetrics` of the processors and memory of
//! the systems it links, `ThermalMetrics`, then the legacy `Thermal` and `Power`.
//!
//! The legacy resources have no link to the sensors; a legacy entry is the same sensor as a
//! current reading when both measure the same thing (metric) with the same `PhysicalContext`
//! (a `PowerControl` without one is the chassis's) and, where both list `RelatedItem`, share
//! one — and exactly one current reading qualifies. A legacy power supply is the same as a
//! `PowerSubsystem` one with the same `SerialNumber`, or else when each side has exactly one
//! present supply. Matched legacy entries are skipped; the others are recorded.
//!
//! Values that are `null` or absent are skipped, never reported as 0; a member whose
//! `Status.State` is `Absent` is skipped entirely.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use crate::def;
pub use crate::recorder::{Attr, Def, Kind, Num, Recorder};

/// Every metric the receiver emits (the table in the module docs and the README).
pub const DEFS: &[Def] = &[
    def!(
        "hw.temperature",
        "Cel",
        Gauge,
        false,
        [
            "hw.id",
            "hw.name",
            "hw.type",
            "hw.parent",
            "hw.sensor_location"
        ],
        "Sensor `Reading` (ReadingType `Temperature` / units `Cel`); Thermal `Temperatures[].ReadingCelsius`; EnvironmentMetrics `TemperatureCelsius`; ThermalMetrics `TemperatureReadingsCelsius[]`; PowerSupplyMetrics `TemperatureCelsius`",
        "Temperature in degrees Celsius."
    ),
    def!(
        "hw.temperature.limit",
        "Cel",
        Gauge,
        false,
        ["hw.id", "hw.name", "hw.type", "hw.parent", "hw.limit_type"],
        "Sensor `Thresholds` `LowerCaution`/`UpperCaution` (low/high.degraded), `LowerCritical`/`UpperCritical` (low/high.critical); Thermal `Lower/UpperThresholdNonCritical`, `…Critical`",
        "Temperature limit in degrees Celsius."
    ),
    def!(
        "hw.fan.speed",
        "rpm",
        Gauge,
        false,
        [
            "hw.id",
            "hw.name",
            "hw.type",
            "hw.parent",
            "hw.sensor_location"
        ],
        "Sensor `Reading` (ReadingType `Rotational` / units `RPM`); Fan `SpeedPercent.SpeedRPM`; Thermal `Fans[].Reading` (`ReadingUnits` `RPM`); EnvironmentMetrics `FanSpeedsPercent[].SpeedRPM`; PowerSupplyMetrics `FanSpeedPercent.SpeedRPM`",
        "Fan speed in revolutions per minute."
    ),
    def!(
        "hw.fan.speed.limit",
        "rpm",
        Gauge,
        false,
        ["hw.id", "hw.name", "hw.type", "hw.parent", "hw.limit_type"],
        "Thermal `Fans[]` `Lower/UpperThresholdNonCritical`, `…Critical` (`ReadingUnits` `RPM`); Sensor `Thresholds` of an RPM sensor",
        "Fan speed limit in revolutions per minute."
    ),
    def!(
        "hw.fan.speed_ratio",
        "1",
        Gauge,
        false,
        [
            "hw.id",
            "hw.name",
            "hw.type",
            "hw.parent",
            "hw.sensor_location"
        ],
        "Fan `SpeedPercent.Reading` ÷ 100 (and the `Percent` Sensor it links); Thermal `Fans[].Reading` (`ReadingUnits` `Percent`); EnvironmentMetrics `FanSpeedsPercent[].Reading`; PowerSupplyMetrics `FanSpeedPercent.Reading`",
        "Fan speed as a fraction of its maximum speed."
    ),
    def!(
        "hw.voltage",
        "V",
        Gauge,
        false,
        [
            "hw.id",
            "hw.name",
            "hw.type",
            "hw.parent",
            "hw.sensor_location"
        ],
        "Sensor `Reading` (ReadingType `Voltage`); Power `Voltages[].ReadingVolts`, `PowerSupplies[].LineInputVoltage`; PowerSupplyMetrics `InputVoltage`, `RailVoltage[]`",
        "Voltage measured by the sensor."
    ),
    def!(
        "hw.voltage.limit",
        "V",
        Gauge,
        false,
        ["hw.id", "hw.name", "hw.type", "hw.parent", "hw.limit_type"],
        "Sensor `Thresholds` (as for temperature); Power `Voltages[]` `Lower/UpperThresholdNonCritical`, `…Critical`",
        "Voltage limit in Volts."
    ),
    def!(
        "hw.power",
        "W",
        Gauge,
        false,
        [
            "hw.id",
            "hw.name",
            "hw.type",
            "hw.parent",
            "hw.sensor_location"
        ],
        "Sensor `Reading` (ReadingType `Power`); Power `PowerControl[].PowerConsumedWatts`, `PowerSupplies[].LastPowerOutputWatts`; EnvironmentMetrics `PowerWatts`; PowerSupplyMetrics `InputPowerWatts`, `OutputPowerWatts`, `RailPowerWatts[]`",
        "Instantaneous power consumed by the component."
    ),
    def!(
        "hw.energy",
        "J",
        Counter,
        false,
        [
            "hw.id",
            "hw.name",
            "hw.type",
            "hw.parent",
            "hw.sensor_location"
        ],
        "Sensor `Reading` (ReadingType `EnergykWh` × 3.6·10⁶, `EnergyWh` × 3600, `EnergyJoules`); EnvironmentMetrics `EnergykWh`, `EnergyJoules`; PowerSupplyMetrics `EnergykWh`",
        "Energy consumed by the component."
    ),
    def!(
        "hw.power_supply.limit",
        "W",
        Gauge,
        false,
        ["hw.id", "hw.name", "hw.type", "hw.parent", "hw.limit_type"],
        "PowerSupply `PowerCapacityWatts`; Power `PowerSupplies[].PowerCapacityWatts` (`hw.limit_type` `max`)",
        "Maximum power output of the power supply."
    ),
    def!(
        "redfish.current",
        "A",
        Gauge,
        false,
        [
            "hw.id",
            "hw.name",
            "hw.type",
            "hw.parent",
            "hw.sensor_location"
        ],
        "Sensor `Reading` (ReadingType `Current`); PowerSupplyMetrics `InputCurrentAmps`, `RailCurrentAmps[]` (no semantic convention yet)",
        "Electrical current measured by the sensor."
    ),
    def!(
        "redfish.frequency",
        "Hz",
        Gauge,
        false,
        [
            "hw.id",
            "hw.name",
            "hw.type",
            "hw.parent",
            "hw.sensor_location"
        ],
        "Sensor `Reading` (ReadingType `Frequency`); PowerSupplyMetrics `FrequencyHz` (no semantic convention yet)",
        "AC frequency measured by the sensor."
    ),
    def!(
        "redfish.sensor.ratio",
        "1",
        Gauge,
        false,
        [
            "hw.id",
            "hw.name",
            "hw.type",
            "hw.parent",
            "hw.sensor_location"
        ],
        "Sensor `Reading` (ReadingType `Percent`) of a sensor no fan links (battery state of health, utilisation), divided by 100 (no semantic convention yet)",
        "A percentage measured by the sensor, as a ratio (0–1)."
    ),
    def!(
        "hw.status",
        "1",
        UpDownCounter,
        true,
        ["hw.id", "hw.name", "hw.type", "hw.parent", "hw.state"],
        "`Status.Health` of systems, chassis, sensors, fans, power supplies (`OK`→`ok`, `Warning`→`degraded`, `Critical`→`failed`: one point per state, 1 for the current); `PowerState` of systems and chassis (`on`, `off`, `powering_on`, `powering_off`, `paused`)",
        "Operational status: 1 (true) or 0 (false) for each of the possible states."
    ),
];

/// Health states of `hw.status` (`hw.state`), from `Status.Health`.
const HEALTH_STATES: [(&str, &str); 3] = [
    ("OK", "ok"),
    ("Warning", "degraded"),
    ("Critical", "failed"),
];

/// Power states of `hw.status` (`hw.state`), from `PowerState`.
const POWER_STATES: [(&str, &str); 5] = [
    ("On", "on"),
    ("Off", "off"),
    ("PoweringOn", "powering_on"),
    ("PoweringOff", "powering_off"),
    ("Paused", "paused"),
];

/// The metric table in Markdown, as the module docs and the README show it.
pub fn markdown_table() -> String {
    crate::recorder::markdown_table(DEFS, "Redfish source")
}

/// A recorder over this receiver's table.
pub fn recorder(start: u64, now: u64) -> Recorder {
    Recorder::new(DEFS, start, now)
}

/// What was fetched for one chassis. Absent parts are `None` or empty.
#[derive(Debug, Default, Clone)]
pub struct ChassisDocs {
    /// The `Chassis` resource.
    pub chassis: Value,
    /// Members of the `Sensors` collection.
    pub sensors: Vec<Value>,
    /// Members of `ThermalSubsystem/Fans`.
    pub fans: Vec<Value>,
    /// `ThermalSubsystem/ThermalMetrics`.
    pub thermal_metrics: Option<Value>,
    /// Members of `PowerSubsystem/PowerSupplies`, each with its `Metrics` when read.
    pub power_supplies: Vec<(Value, Option<Value>)>,
    /// `EnvironmentMetrics`.
    pub environment: Option<Value>,
    /// Legacy `Thermal`.
    pub thermal: Option<Value>,
    /// Legacy `Power`.
    pub power: Option<Value>,
    /// `EnvironmentMetrics` of the processors and memory of the systems this chassis links,
    /// each with its component (`Processor`, `Memory`).
    pub component_environment: Vec<(Value, Value)>,
    /// The `@odata.id` of every `Sensor` resource with a reading read in this scrape, of any
    /// chassis: a copy (an excerpt whose `DataSourceUri` names one of them) is skipped, since
    /// the Sensor resource is authoritative for its own reading and is exported by its chassis.
    pub sensors_read: std::sync::Arc<HashSet<String>>,
}

static NO_SENSORS: std::sync::LazyLock<HashSet<String>> = std::sync::LazyLock::new(HashSet::new);

/// The ids of the `Sensor` resources with a numeric `Reading` among `sensors` (for
/// [`ChassisDocs::sensors_read`]).
pub fn sensor_ids<'a>(sensors: impl IntoIterator<Item = &'a Value>) -> HashSet<String> {
    sensors
        .into_iter()
        .filter(|s| !absent(s) && num(s, "Reading").is_some())
        .filter_map(|s| odata_id(s).map(str::to_owned))
        .collect()
}

/// One reading before it is recorded.
#[derive(Debug, Clone)]
struct Point {
    metric: &'static str,
    id: String,
    name: String,
    hw_type: &'static str,
    parent: String,
    location: Option<String>,
    related: Vec<String>,
    value: f64,
}

/// Collects the points of one chassis, without duplicates.
struct Points<'r> {
    rec: &'r mut Recorder,
    seen: HashSet<(&'static str, String)>,
    /// Points from current resources, for matching legacy entries.
    current: Vec<Point>,
    legacy_phase: bool,
    /// Legacy entries found to be the same sensor as a current reading.
    matched: usize,
    /// Sensor resources read anywhere in the scrape (copies of them are skipped).
    sensors_read: &'r HashSet<String>,
}

impl Points<'_> {
    fn reading(&mut self, p: Point) {
        if !self.seen.insert((p.metric, p.id.clone())) {
            return;
        }
        self.rec.add(
            p.metric,
            vec![
                p.id.clone().into(),
                p.name.clone().into(),
                p.hw_type.into(),
                p.parent.clone().into(),
                p.location.clone().into(),
            ],
            Num::F(p.value),
        );
        if !self.legacy_phase {
            self.current.push(p);
        }
    }

    fn limit(&mut self, metric: &'static str, base: &Point, limit_type: &str, value: f64) {
        if !self
            .seen
            .insert((metric, format!("{}\u{0}{limit_type}", base.id)))
        {
            return;
        }
        self.rec.add(
            metric,
            vec![
                base.id.clone().into(),
                base.name.clone().into(),
                base.hw_type.into(),
                base.parent.clone().into(),
                limit_type.into(),
            ],
            Num::F(value),
        );
    }

    /// `hw.status` points for `Status.Health` (when given) of a component.
    fn health(&mut self, id: &str, name: &str, hw_type: &str, parent: &str, doc: &Value) {
        if let Some(h) = doc.pointer("/Status/Health").and_then(Value::as_str) {
            self.states("health", id, name, hw_type, parent, h, &HEALTH_STATES);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn states(
        &mut self,
        set: &str,
        id: &str,
        name: &str,
        hw_type: &str,
        parent: &str,
        current: &str,
        states: &[(&str, &str)],
    ) {
        if !self.seen.insert(("hw.status", format!("{id}\u{0}{set}"))) {
            return;
        }
        for (redfish, state) in states {
            self.rec.add(
                "hw.status",
                vec![
                    id.into(),
                    name.into(),
                    hw_type.into(),
                    parent.into(),
                    (*state).into(),
                ],
                Num::I(u64::from(*redfish == current)),
            );
        }
    }

    /// The one current reading that is the same sensor as legacy entry `p`, if exactly one is.
    fn same_as_current(&self, p: &Point) -> bool {
        let n = self
            .current
            .iter()
            .filter(|c| {
                c.metric == p.metric
                    && c.location.is_some()
                    && c.location == p.location
                    && (c.related.is_empty()
                        || p.related.is_empty()
                        || c.related.iter().any(|r| p.related.contains(r)))
            })
            .count();
        n == 1
    }
}

fn num(o: &Value, k: &str) -> Option<f64> {
    o.get(k).and_then(Value::as_f64)
}

fn text<'a>(o: &'a Value, k: &str) -> Option<&'a str> {
    o.get(k).and_then(Value::as_str)
}

fn odata_id(o: &Value) -> Option<&str> {
    text(o, "@odata.id")
}

fn absent(o: &Value) -> bool {
    o.pointer("/Status/State").and_then(Value::as_str) == Some("Absent")
}

fn related(o: &Value) -> Vec<String> {
    o.get("RelatedItem")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| odata_id(r).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// `hw.type` of a component from its Redfish `PhysicalContext`.
fn type_of_context(ctx: Option<&str>) -> &'static str {
    match ctx {
        Some("CPU" | "CPUSubsystem") => "cpu",
        Some("PowerSupply" | "PowerSubsystem") => "power_supply",
        Some("Battery") => "battery",
        Some("Memory" | "MemorySubsystem") => "memory",
        Some("GPU" | "GPUSubsystem") => "gpu",
        Some("NetworkingDevice" | "NetworkBay") => "network",
        Some("StorageDevice") => "physical_disk",
        Some("StorageBay" | "Backplane") => "enclosure",
        Some("Fan" | "FanArray") => "fan",
        _ => "enclosure",
    }
}

/// What a `Sensor` measures: its `ReadingType`, else guessed from `ReadingUnits`.
fn reading_type(s: &Value) -> Option<&str> {
    if let Some(t) = text(s, "ReadingType") {
        return Some(t);
    }
    Some(match text(s, "ReadingUnits")? {
        "Cel" => "Temperature",
        "V" => "Voltage",
        "W" => "Power",
        "A" => "Current",
        "Hz" => "Frequency",
        "RPM" | "{rev}/min" => "Rotational",
        "kW.h" => "EnergykWh",
        "W.h" => "EnergyWh",
        "J" => "EnergyJoules",
        "%" => "Percent",
        _ => return None,
    })
}

/// Sensor threshold names → `hw.limit_type` (DSP2046 Sensor `Thresholds`).
const SENSOR_THRESHOLDS: [(&str, &str); 4] = [
    ("LowerCaution", "low.degraded"),
    ("LowerCritical", "low.critical"),
    ("UpperCaution", "high.degraded"),
    ("UpperCritical", "high.critical"),
];

/// Legacy `Thermal`/`Power` threshold properties → `hw.limit_type`.
const LEGACY_THRESHOLDS: [(&str, &str); 4] = [
    ("LowerThresholdNonCritical", "low.degraded"),
    ("LowerThresholdCritical", "low.critical"),
    ("UpperThresholdNonCritical", "high.degraded"),
    ("UpperThresholdCritical", "high.critical"),
];

/// Records the readings of one chassis (see the module docs for identity and precedence)
/// and returns how many legacy entries were recognised as duplicates of current readings.
pub fn interpret(rec: &mut Recorder, docs: &ChassisDocs) -> usize {
    interpret_with(rec, docs, &mut HashSet::new())
}

/// (metric, `hw.id`) pairs already exported in a scrape: one series per sensor, even where
/// two chassis link the same resource.
pub type Seen = HashSet<(&'static str, String)>;

/// [`interpret`] for one chassis of several: `seen` carries what the chassis before it
/// exported, so a resource two chassis link is exported once.
pub fn interpret_with(rec: &mut Recorder, docs: &ChassisDocs, seen: &mut Seen) -> usize {
    let chassis_id = odata_id(&docs.chassis).unwrap_or("").to_owned();
    let mut pts = Points {
        rec,
        seen: std::mem::take(seen),
        current: Vec::new(),
        legacy_phase: false,
        matched: 0,
        sensors_read: &docs.sensors_read,
    };

    // Which sensors belong to a fan or a power supply (their excerpts name them).
    let mut owner: HashMap<String, (String, String, &'static str)> = HashMap::new();
    for f in docs.fans.iter().filter(|f| !absent(f)) {
        if let (Some(fid), Some(src)) = (
            odata_id(f),
            f.pointer("/SpeedPercent/DataSourceUri")
                .and_then(Value::as_str),
        ) {
            owner.insert(
                src.to_owned(),
                (
                    fid.to_owned(),
                    text(f, "Name").unwrap_or(fid).to_owned(),
                    "fan",
                ),
            );
        }
    }
    // Fan speeds in EnvironmentMetrics (the chassis', its processors' and memory's) name
    // their sensors too: such a percentage sensor is a fan's speed ratio, not a bare ratio.
    let envs = docs
        .environment
        .iter()
        .map(|e| (e, odata_id(&docs.chassis).unwrap_or("")))
        .chain(
            docs.component_environment
                .iter()
                .map(|(c, e)| (e, odata_id(c).unwrap_or(""))),
        );
    for (env, parent) in envs {
        for (i, f) in array(env, "FanSpeedsPercent") {
            if let Some(src) = text(f, "DataSourceUri") {
                let name = text(f, "DeviceName").map_or_else(|| format!("fan {i}"), str::to_owned);
                owner
                    .entry(src.to_owned())
                    .or_insert((parent.to_owned(), name, "fan"));
            }
        }
    }
    for (psu, m) in docs.power_supplies.iter().filter(|(p, _)| !absent(p)) {
        let (Some(pid), Some(m)) = (odata_id(psu), m) else {
            continue;
        };
        for v in m.as_object().into_iter().flat_map(Map::values) {
            let excerpts = match v {
                Value::Array(a) => a.iter().collect::<Vec<_>>(),
                other => vec![other],
            };
            for e in excerpts {
                if let Some(src) = text(e, "DataSourceUri") {
                    owner.insert(
                        src.to_owned(),
                        (
                            pid.to_owned(),
                            text(psu, "Name").unwrap_or(pid).to_owned(),
                            "power_supply",
                        ),
                    );
                }
            }
        }
    }

    // 1. The Sensors collection.
    for s in docs.sensors.iter().filter(|s| !absent(s)) {
        sensor(&mut pts, s, &chassis_id, &owner);
    }

    // 2. ThermalSubsystem fans.
    for f in docs.fans.iter().filter(|f| !absent(f)) {
        let Some(fid) = odata_id(f) else { continue };
        let name = text(f, "Name").unwrap_or(fid).to_owned();
        let loc = text(f, "PhysicalContext").map(str::to_owned);
        if let Some(sp) = f.get("SpeedPercent") {
            fan_excerpt(
                &mut pts,
                sp,
                &format!("{fid}#/SpeedPercent"),
                &name,
                fid,
                loc,
            );
        }
        pts.health(fid, &name, "fan", &chassis_id, f);
    }

    // 3. PowerSubsystem power supplies.
    for (psu, m) in docs.power_supplies.iter().filter(|(p, _)| !absent(p)) {
        let Some(pid) = odata_id(psu) else { continue };
        let name = text(psu, "Name").unwrap_or(pid).to_owned();
        let base = Point {
            metric: "hw.power_supply.limit",
            id: pid.to_owned(),
            name: name.clone(),
            hw_type: "power_supply",
            parent: chassis_id.clone(),
            location: Some("PowerSupply".into()),
            related: Vec::new(),
            value: 0.0,
        };
        if let Some(w) = num(psu, "PowerCapacityWatts") {
            pts.limit("hw.power_supply.limit", &base, "max", w);
        }
        pts.health(pid, &name, "power_supply", &chassis_id, psu);
        if let Some(m) = m {
            psu_metrics(&mut pts, m, pid, &name);
        }
    }

    // 4. EnvironmentMetrics of the chassis, then of the processors and memory it holds.
    if let Some(env) = &docs.environment {
        let name = text(env, "Name").unwrap_or("EnvironmentMetrics");
        environment_metrics(&mut pts, env, &chassis_id, name, "enclosure");
    }
    for (comp, env) in &docs.component_environment {
        let Some(cid) = odata_id(comp) else { continue };
        let ctype = if text(comp, "@odata.type").is_some_and(|t| t.contains("Memory")) {
            "memory"
        } else {
            "cpu"
        };
        environment_metrics(&mut pts, env, cid, text(comp, "Name").unwrap_or(cid), ctype);
    }

    // 5. ThermalMetrics per-device readings (the summaries only repeat sensors).
    if let Some(tm) = &docs.thermal_metrics {
        let tid = odata_id(tm).unwrap_or("ThermalMetrics");
        for (i, r) in array(tm, "TemperatureReadingsCelsius") {
            let name = text(r, "DeviceName")
                .map_or_else(|| format!("TemperatureReadingsCelsius {i}"), str::to_owned);
            excerpt(
                &mut pts,
                r,
                "hw.temperature",
                1.0,
                &format!("{tid}#/TemperatureReadingsCelsius/{i}"),
                &name,
                "temperature",
                &chassis_id,
                None,
            );
        }
    }

    // 6. Legacy Thermal only for a chassis without ThermalSubsystem, legacy Power only for
    //    one without PowerSubsystem: where both schemas describe the hardware, the legacy
    //    member ids would give the same fan or voltage a second series.
    pts.legacy_phase = true;
    if let Some(t) = &docs.thermal
        && docs.fans.is_empty()
        && docs.thermal_metrics.is_none()
    {
        legacy_thermal(&mut pts, t, &chassis_id);
    }
    if let Some(p) = &docs.power
        && docs.power_supplies.is_empty()
    {
        legacy_power(&mut pts, p, &chassis_id, &docs.power_supplies);
    }
    *seen = std::mem::take(&mut pts.seen);
    pts.matched
}

/// An `EnvironmentMetrics` resource (DSP2046 EnvironmentMetrics schema) of `parent` (a
/// chassis, processor or memory URI): temperature, power, energy and fan speed excerpts.
/// Power and energy get `hw.type` `power_type`; points are named `"{name} {property}"`.
fn environment_metrics(
    pts: &mut Points<'_>,
    env: &Value,
    parent: &str,
    name: &str,
    power_type: &'static str,
) {
    let eid = odata_id(env).unwrap_or(parent);
    for (prop, metric, hw_type, scale) in [
        ("TemperatureCelsius", "hw.temperature", "temperature", 1.0),
        ("PowerWatts", "hw.power", power_type, 1.0),
        ("EnergykWh", "hw.energy", power_type, 3.6e6),
        ("EnergyJoules", "hw.energy", power_type, 1.0),
    ] {
        if let Some(e) = env.get(prop) {
            excerpt(
                pts,
                e,
                metric,
                scale,
                &format!("{eid}#/{prop}"),
                &format!("{name} {prop}"),
                hw_type,
                parent,
                None,
            );
        }
    }
    for (i, f) in array(env, "FanSpeedsPercent") {
        let fan = text(f, "DeviceName").map_or_else(|| format!("{name} fan {i}"), str::to_owned);
        fan_excerpt(
            pts,
            f,
            &format!("{eid}#/FanSpeedsPercent/{i}"),
            &fan,
            parent,
            None,
        );
    }
}

/// The members of the array property `key` of `doc` with their index (none when absent or
/// not an array).
fn array<'a>(doc: &'a Value, key: &str) -> impl Iterator<Item = (usize, &'a Value)> {
    doc.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
}

/// [`array`] without the members whose `Status.State` is `Absent`.
fn present<'a>(doc: &'a Value, key: &str) -> impl Iterator<Item = (usize, &'a Value)> {
    array(doc, key).filter(|(_, m)| !absent(m))
}

/// One `Sensor` resource (DSP2046 Sensor schema).
fn sensor(
    pts: &mut Points<'_>,
    s: &Value,
    chassis: &str,
    owner: &HashMap<String, (String, String, &'static str)>,
) {
    let Some(id) = odata_id(s) else { return };
    let own = owner.get(id);
    let loc = text(s, "PhysicalContext");
    let ctx_type = type_of_context(loc);
    let (metric, hw_type, scale) = match reading_type(s) {
        Some("Temperature") => ("hw.temperature", "temperature", 1.0),
        Some("Voltage") => ("hw.voltage", "voltage", 1.0),
        Some("Power") => ("hw.power", own.map_or(ctx_type, |o| o.2), 1.0),
        Some("Current") => ("redfish.current", own.map_or(ctx_type, |o| o.2), 1.0),
        Some("Frequency") => ("redfish.frequency", own.map_or(ctx_type, |o| o.2), 1.0),
        Some("EnergykWh") => ("hw.energy", own.map_or(ctx_type, |o| o.2), 3.6e6),
        Some("EnergyWh") => ("hw.energy", own.map_or(ctx_type, |o| o.2), 3600.0),
        Some("EnergyJoules") => ("hw.energy", own.map_or(ctx_type, |o| o.2), 1.0),
        Some("Rotational") => ("hw.fan.speed", "fan", 1.0),
        // A percentage is a fan speed when a fan links it; other percentages (battery health,
        // humidity, utilisation) have no hw.* metric here.
        Some("Percent") if own.is_some_and(|o| o.2 == "fan") => ("hw.fan.speed_ratio", "fan", 0.01),
        Some("Percent") => ("redfish.sensor.ratio", own.map_or(ctx_type, |o| o.2), 0.01),
        _ => return,
    };
    let (parent, name) = match own {
        Some((p, n, "fan")) => (p.clone(), n.clone()),
        Some((p, _, _)) => (p.clone(), text(s, "Name").unwrap_or(id).to_owned()),
        None => (chassis.to_owned(), text(s, "Name").unwrap_or(id).to_owned()),
    };
    let p = Point {
        metric,
        id: id.to_owned(),
        name: name.clone(),
        hw_type,
        parent: parent.clone(),
        location: loc.map(str::to_owned),
        related: related(s),
        value: 0.0,
    };
    if let Some(v) = num(s, "Reading") {
        pts.reading(Point {
            value: v * scale,
            ..p.clone()
        });
    }
    let limit_metric = match metric {
        "hw.temperature" => Some("hw.temperature.limit"),
        "hw.voltage" => Some("hw.voltage.limit"),
        "hw.fan.speed" => Some("hw.fan.speed.limit"),
        _ => None,
    };
    if let (Some(lm), Some(th)) = (limit_metric, s.get("Thresholds")) {
        for (k, lt) in SENSOR_THRESHOLDS {
            if let Some(v) = th.get(k).and_then(|t| num(t, "Reading")) {
                pts.limit(lm, &p, lt, v);
            }
        }
    }
    pts.health(id, &name, hw_type, &parent, s);
}

/// A fan speed excerpt (`Reading` in percent, `SpeedRPM`), keyed by its `DataSourceUri`.
fn fan_excerpt(
    pts: &mut Points<'_>,
    e: &Value,
    fallback_id: &str,
    name: &str,
    parent: &str,
    loc: Option<String>,
) {
    let id = text(e, "DataSourceUri").unwrap_or(fallback_id).to_owned();
    let p = Point {
        metric: "hw.fan.speed_ratio",
        id,
        name: name.to_owned(),
        hw_type: "fan",
        parent: parent.to_owned(),
        location: loc,
        related: Vec::new(),
        value: 0.0,
    };
    if let Some(v) = num(e, "Reading") {
        pts.reading(Point {
            value: v / 100.0,
            ..p.clone()
        });
    }
    if let Some(v) = num(e, "SpeedRPM") {
        pts.reading(Point {
            metric: "hw.fan.speed",
            value: v,
            ..p
        });
    }
}

/// A `SensorExcerpt` (`Reading`, `DataSourceUri`), keyed by its `DataSourceUri`.
#[allow(clippy::too_many_arguments)]
fn excerpt(
    pts: &mut Points<'_>,
    e: &Value,
    metric: &'static str,
    scale: f64,
    fallback_id: &str,
    name: &str,
    hw_type: &'static str,
    parent: &str,
    loc: Option<&str>,
) {
    let Some(v) = num(e, "Reading") else { return };
    if text(e, "DataSourceUri").is_some_and(|uri| pts.sensors_read.contains(uri)) {
        return; // A copy: the Sensor resource itself is exported.
    }
    pts.reading(Point {
        metric,
        id: text(e, "DataSourceUri").unwrap_or(fallback_id).to_owned(),
        name: name.to_owned(),
        hw_type,
        parent: parent.to_owned(),
        location: loc.map(str::to_owned),
        related: Vec::new(),
        value: v * scale,
    });
}

/// `PowerSupplyMetrics` (DSP2046 PowerSupplyMetrics schema).
fn psu_metrics(pts: &mut Points<'_>, m: &Value, psu: &str, psu_name: &str) {
    let mid = odata_id(m).unwrap_or(psu);
    let one = [
        ("InputVoltage", "hw.voltage", "voltage", 1.0),
        ("InputCurrentAmps", "redfish.current", "power_supply", 1.0),
        ("InputPowerWatts", "hw.power", "power_supply", 1.0),
        ("OutputPowerWatts", "hw.power", "power_supply", 1.0),
        ("EnergykWh", "hw.energy", "power_supply", 3.6e6),
        ("FrequencyHz", "redfish.frequency", "power_supply", 1.0),
        ("TemperatureCelsius", "hw.temperature", "temperature", 1.0),
    ];
    for (prop, metric, hw_type, scale) in one {
        if let Some(e) = m.get(prop) {
            excerpt(
                pts,
                e,
                metric,
                scale,
                &format!("{mid}#/{prop}"),
                &format!("{psu_name} {prop}"),
                hw_type,
                psu,
                Some("PowerSupply"),
            );
        }
    }
    let rails = [
        ("RailVoltage", "hw.voltage", "voltage"),
        ("RailCurrentAmps", "redfish.current", "power_supply"),
        ("RailPowerWatts", "hw.power", "power_supply"),
    ];
    for (prop, metric, hw_type) in rails {
        for (i, e) in array(m, prop) {
            excerpt(
                pts,
                e,
                metric,
                1.0,
                &format!("{mid}#/{prop}/{i}"),
                &format!("{psu_name} {prop} {i}"),
                hw_type,
                psu,
                Some("PowerSupply"),
            );
        }
    }
    if let Some(f) = m.get("FanSpeedPercent") {
        fan_excerpt(
            pts,
            f,
            &format!("{mid}#/FanSpeedPercent"),
            &format!("{psu_name} fan"),
            psu,
            Some("PowerSupply".into()),
        );
    }
}

/// A legacy array member's identity: its `@odata.id`, else `{resource}#/{array}/{index}`.
fn member_id(m: &Value, resource: &str, array: &str, i: usize) -> String {
    odata_id(m).map_or_else(|| format!("{resource}#/{array}/{i}"), str::to_owned)
}

/// Records a legacy reading unless it is the same sensor as a current one; then its limits
/// and health.
fn legacy_reading(pts: &mut Points<'_>, p: Point, m: &Value, limit_metric: Option<&'static str>) {
    if pts.same_as_current(&p) {
        pts.matched += 1;
        return;
    }
    let has_reading = p.value.is_finite();
    if has_reading {
        pts.reading(p.clone());
    }
    // A disabled sensor without a reading keeps its health, not its limits.
    if let Some(lm) = limit_metric.filter(|_| has_reading) {
        for (k, lt) in LEGACY_THRESHOLDS {
            if let Some(v) = num(m, k) {
                pts.limit(lm, &p, lt, v);
            }
        }
    }
    let (id, name, t, parent) = (p.id.clone(), p.name.clone(), p.hw_type, p.parent.clone());
    pts.health(&id, &name, t, &parent, m);
}

/// Legacy `Thermal` (DSP8010 Thermal v1): `Temperatures[]` and `Fans[]`.
fn legacy_thermal(pts: &mut Points<'_>, t: &Value, chassis: &str) {
    let tid = odata_id(t).unwrap_or("Thermal");
    for (i, m) in present(t, "Temperatures") {
        let id = member_id(m, tid, "Temperatures", i);
        legacy_reading(
            pts,
            Point {
                metric: "hw.temperature",
                name: text(m, "Name").unwrap_or(&id).to_owned(),
                id,
                hw_type: "temperature",
                parent: chassis.to_owned(),
                location: text(m, "PhysicalContext").map(str::to_owned),
                related: related(m),
                value: num(m, "ReadingCelsius").unwrap_or(f64::NAN),
            },
            m,
            Some("hw.temperature.limit"),
        );
    }
    for (i, m) in present(t, "Fans") {
        let id = member_id(m, tid, "Fans", i);
        let (metric, scale, limit) = match text(m, "ReadingUnits") {
            Some("Percent") => ("hw.fan.speed_ratio", 0.01, None),
            _ => ("hw.fan.speed", 1.0, Some("hw.fan.speed.limit")),
        };
        legacy_reading(
            pts,
            Point {
                metric,
                name: text(m, "Name")
                    .or_else(|| text(m, "FanName"))
                    .unwrap_or(&id)
                    .to_owned(),
                id,
                hw_type: "fan",
                parent: chassis.to_owned(),
                location: text(m, "PhysicalContext").map(str::to_owned),
                related: related(m),
                value: num(m, "Reading").map_or(f64::NAN, |v| v * scale),
            },
            m,
            limit,
        );
    }
}

/// Legacy `Power` (DSP8010 Power v1): `PowerControl[]`, `Voltages[]`, `PowerSupplies[]`.
fn legacy_power(
    pts: &mut Points<'_>,
    p: &Value,
    chassis: &str,
    current_psus: &[(Value, Option<Value>)],
) {
    let pid = odata_id(p).unwrap_or("Power");
    for (i, m) in present(p, "PowerControl") {
        let id = member_id(m, pid, "PowerControl", i);
        let loc = text(m, "PhysicalContext").unwrap_or("Chassis");
        legacy_reading(
            pts,
            Point {
                metric: "hw.power",
                name: text(m, "Name").unwrap_or(&id).to_owned(),
                id,
                hw_type: type_of_context(Some(loc)),
                parent: chassis.to_owned(),
                location: Some(loc.to_owned()),
                related: related(m),
                value: num(m, "PowerConsumedWatts").unwrap_or(f64::NAN),
            },
            m,
            None,
        );
    }
    for (i, m) in present(p, "Voltages") {
        let id = member_id(m, pid, "Voltages", i);
        legacy_reading(
            pts,
            Point {
                metric: "hw.voltage",
                name: text(m, "Name").unwrap_or(&id).to_owned(),
                id,
                hw_type: "voltage",
                parent: chassis.to_owned(),
                location: text(m, "PhysicalContext").map(str::to_owned),
                related: related(m),
                value: num(m, "ReadingVolts").unwrap_or(f64::NAN),
            },
            m,
            Some("hw.voltage.limit"),
        );
    }
    let legacy: Vec<(usize, &Value)> = present(p, "PowerSupplies").collect();
    let current: Vec<&Value> = current_psus
        .iter()
        .map(|(p, _)| p)
        .filter(|p| !absent(p))
        .collect();
    for &(i, m) in &legacy {
        let serial = text(m, "SerialNumber");
        let same = current
            .iter()
            .any(|c| serial.is_some() && text(c, "SerialNumber") == serial)
            || (legacy.len() == 1 && current.len() == 1);
        if same {
            pts.matched += 1;
            continue;
        }
        let id = member_id(m, pid, "PowerSupplies", i);
        let name = text(m, "Name").unwrap_or(&id).to_owned();
        let base = Point {
            metric: "hw.power",
            id: id.clone(),
            name: name.clone(),
            hw_type: "power_supply",
            parent: chassis.to_owned(),
            location: Some("PowerSupply".into()),
            related: related(m),
            value: 0.0,
        };
        if let Some(w) = num(m, "LastPowerOutputWatts") {
            pts.reading(Point {
                value: w,
                ..base.clone()
            });
        }
        if let Some(v) = num(m, "LineInputVoltage") {
            pts.reading(Point {
                metric: "hw.voltage",
                id: format!("{id}/LineInputVoltage"),
                name: format!("{name} LineInputVoltage"),
                parent: id.clone(),
                value: v,
                ..base.clone()
            });
        }
        if let Some(w) = num(m, "PowerCapacityWatts") {
            pts.limit("hw.power_supply.limit", &base, "max", w);
        }
        pts.health(&id, &name, "power_supply", chassis, m);
    }
}

/// `hw.status` points for a system or a chassis: `Status.Health` and `PowerState`.
pub fn component_status(rec: &mut Recorder, doc: &Value, hw_type: &str, parent: &str) {
    let Some(id) = odata_id(doc) else { return };
    let name = text(doc, "Name").unwrap_or(id);
    let mut pts = Points {
        rec,
        seen: HashSet::new(),
        current: Vec::new(),
        legacy_phase: true,
        matched: 0,
        sensors_read: &NO_SENSORS,
    };
    pts.health(id, name, hw_type, parent, doc);
    if let Some(ps) = text(doc, "PowerState") {
        pts.states("power", id, name, hw_type, parent, ps, &POWER_STATES);
    }
}
