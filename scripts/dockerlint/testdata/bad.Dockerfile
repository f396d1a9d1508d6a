FROM ubuntu:latest as base
ARG GO_VERSION
ENV API_SECRET=hunter2
run echo hi
WORKDIR relative/dir
CMD echo $UNDEFINED_THING
