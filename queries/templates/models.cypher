// name: models
// description: The models stored, with the settings their graphs were made with (JSON).
MATCH (m:Model)
RETURN m.name AS name, m.settings AS settings
ORDER BY name
