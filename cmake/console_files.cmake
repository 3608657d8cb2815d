# Copy the web console's files (SRC) to DST, and MQTT.js's browser
# module (MQTTJS) into DST/vendor when it is installed; run at build time
# by the `console` target (CMakeLists.txt).  DST is updated in place, not
# removed first: a running broker holds the directory open
# (admin_console.c) and would serve nothing from a new one.
file(COPY ${SRC}/ DESTINATION ${DST})
if(EXISTS ${MQTTJS})
  file(COPY ${MQTTJS} DESTINATION ${DST}/vendor)
endif()
