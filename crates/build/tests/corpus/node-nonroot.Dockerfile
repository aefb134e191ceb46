FROM node:20-slim
ENV NODE_ENV=production \
    APP_HOME=/home/node/app
WORKDIR $APP_HOME
COPY --chown=node:node package*.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY --chown=node:node . .
USER node
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 \
  CMD node healthcheck.js || exit 1
CMD ["node", "server.js"]
