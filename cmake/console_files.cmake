# Copy the web console's files (SRC) to DST, and MQTT.js's browser
# module (MQTTJS) into DST/vendor when it is installed; run at build time
# by the `console` target (CMakeLists.txt).
file(REMOVE_RECURSE ${DST})
file(COPY ${SRC}/ DESTINATION ${DST})
if(EXISTS ${MQTTJS})
  file(COPY ${MQTTJS} DESTINATION ${DST}/vendor)
endif()
